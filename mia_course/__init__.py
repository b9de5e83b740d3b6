"""mia-course: the helper package behind the membership inference course."""
__version__ = "0.2.0"


def setup_notebook() -> None:
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


# ---- the public API, loaded lazily (PEP 562): ``import mia_course`` stays light (no torch) ----
import os as _os
from typing import Any as _Any

# OpenMP threads that spin while waiting steal a busy laptop's cores from each other (64 shadows:
# 2.3 s idle, 5.9 s next to one busy process): sleep instead, unless the user chose. This must
# run before torch is first imported, and importing any mia_course module runs it first.
# A lesson that imports torch before mia_course is too late for that: OpenMP read its setting
# when torch loaded, and its threads may spin (lesson 09: 6-12x slower next to one busy
# process). Then torch runs on one thread, which never waits for another (`make lab` and
# `make test` give the kernel OMP_WAIT_POLICY=PASSIVE from the start, so this is for other
# Jupyters; torch_threads(n) and set_num_threads still choose more).
import sys as _sys

if "torch" in _sys.modules and "OMP_WAIT_POLICY" not in _os.environ:
    _sys.modules["torch"].set_num_threads(1)
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_HOMES = {
    "LiRA": "lira", "RMIA": "rmia", "LabelOnlyAttack": "label_only",
    "LossThresholdAttack": "attacks", "ConfidenceThresholdAttack": "attacks",
    "ShadowModelAttack": "attacks", "MembershipAttack": "attack_base",
    "TorchMLPClassifier": "models", "DPMLPClassifier": "defenses.dp_models",
    "NoisyOutputs": "defenses.outputs", "RoundedOutputs": "defenses.outputs",
    "LabelOnlyOutputs": "defenses.outputs",
    "train_shadow_models": "training.registry", "random_halves": "shadows",
    "train_on_random_halves": "shadows",
    "roc": "metrics", "roc_auc": "metrics", "tpr_at_fpr": "metrics", "attack_summary": "metrics",
    "membership_advantage": "metrics", "most_exposed": "metrics",
    "empirical_epsilon": "audit", "dp_bound_tpr": "audit", "noise_multiplier_for": "accounting",
    "make_ad_clicks": "data", "alice": "data", "make_target_setting": "experiments", "privacy_utility": "experiments",
    "plot_roc_curves": "plots", "plot_score_histograms": "plots",
    "audit_model": "report.core", "audit_files": "report.core", "AuditReport": "report.core",
}
__all__ = ["__version__", "setup_notebook", *_HOMES]


def __getattr__(name: str) -> _Any:
    """Import a public name's module on first use (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module 'mia_course' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"mia_course.{_HOMES[name]}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
