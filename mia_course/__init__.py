"""mia-course: the helper package behind the membership inference course."""
__version__ = "0.2.0"


def setup_notebook():
    """Quiet known library warnings and set the course's plot style (call once per lesson).

    Introduced in notebooks/00_start_here.ipynb.
    """
    import warnings

    import matplotlib.pyplot as plt
    from cycler import cycler

    from mia_course.plots import PALETTE

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*TqdmWarning.*")
    warnings.filterwarnings("ignore", message=".*IProgress not found.*")
    warnings.filterwarnings("ignore", module="opacus")  # notes on secure RNG and accountant orders
    warnings.filterwarnings("ignore", message=".*[Ff]ull backward hook.*")
    plt.rcParams.update({"figure.dpi": 100, "axes.spines.top": False,
                         "axes.spines.right": False, "figure.figsize": (6, 4),
                         # colour-blind safe (Okabe & Ito): C0 blue and C3 vermillion, the
                         # lessons' non-members and members, differ for every kind of colour vision
                         "axes.prop_cycle": cycler(color=list(PALETTE))})
