"""A privacy risk report for any fitted classifier: ``audit_model`` / ``mia-course audit``.

Introduced in notebooks/07_audit_your_own_model.ipynb (section 4). The course's own attacks
(loss threshold, online LiRA and RMIA with reference models cloned from the estimator, the
label-only attack) run on the model's training rows and rows it never saw; the report gives
TPR at 0.1%, 1% and 10% FPR with 95% Clopper-Pearson intervals (or "not resolvable"), AUC,
precision at a declared prior, the accuracy gap, the most exposed records and what sets them
apart, per-class results, the declared DP ε, and what it cannot say. Modules: ``inputs``
(loading and checks), ``attacks`` (running them, locally or on Dask), ``numbers``, ``text``,
``render`` (HTML, Markdown, JSON), ``core`` (``audit_model``, ``audit_files``), ``command``
(the command line).
"""
from mia_course.report.core import AuditReport, audit_files, audit_model
from mia_course.report.inputs import load_model, read_table

__all__ = ["AuditReport", "audit_files", "audit_model", "load_model", "read_table"]
