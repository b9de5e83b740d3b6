"""Graded exercises: checks that teach, the tripwire, the release of exercises/, nbgrader plugins.

Introduced in solutions/ex01_confidence.ipynb (``from mia_course.grading import
assert_passes, check`` in every exercise notebook) and docs/instructors.md. The modules:

- ``engine``: ``check``, ``assert_passes``, the ``Exercise`` registry, the report;
- ``limits``: the per-case time limit;
- ``tripwire``: a function that calls the exercise's reference fails;
- ``kit``: what several exercises' checks share (``as_numbers``, ``plural``, ``first_match``,
  ``membership``, ``ToyModel``, ...);
- ``checks``: one module per exercise notebook (``checks/ex01.py`` ... ``checks/ex15.py``);
- ``release``: ``python -m mia_course.grading.release`` writes exercises/ from solutions/;
- ``nbgrader_plugins``: the feedback preprocessor and the per-question export (needs nbgrader).
"""
from mia_course.grading.engine import (REGISTRY, CaseResult, Exercise, Report, assert_passes, check,
                                       exercise_names, get_exercise, register)
from mia_course.grading.limits import DEFAULT_TIMEOUT, call_limited

__all__ = ["REGISTRY", "CaseResult", "DEFAULT_TIMEOUT", "Exercise", "Report", "assert_passes",
           "call_limited", "check", "exercise_names", "get_exercise", "register"]
