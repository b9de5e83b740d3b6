"""The exercises' checks: one module per exercise notebook, ``exNN.py`` for ``exNN_*.ipynb``.

Introduced in docs/instructors.md ("Adding or changing an exercise"). Importing a module
registers its exercises (``mia_course.grading.engine.register``), each with its case maker,
its judge, its default cases and its ``references`` (the package functions the learner's code
may not call). The engine imports every module of this package: a new exercise notebook
needs a new module here and nothing else.
"""
