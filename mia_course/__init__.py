"""mia-course: the helper package behind the membership inference course."""
__version__ = "0.1.0"
