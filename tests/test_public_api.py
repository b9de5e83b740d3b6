"""The public API: ``from mia_course import LiRA, ...`` works, lazily (no torch on import)."""
import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import mia_course

ROOT = Path(__file__).resolve().parents[1]


def run_fresh(code, env=None):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_import_mia_course_does_not_import_torch():
    run_fresh("import sys, mia_course\n"
              "assert 'torch' not in sys.modules, 'import mia_course imported torch'\n"
              "assert [m for m in sys.modules if m.startswith('mia_course')] == ['mia_course']\n"
              "from mia_course import roc_auc\n"
              "assert 'torch' not in sys.modules, 'the metrics need no torch'\n"
              "from mia_course import LiRA, DPMLPClassifier, train_shadow_models\n"
              "assert 'torch' in sys.modules  # the models do\n")


def test_the_issue_s_names_are_public():
    for name in ["LiRA", "RMIA", "LabelOnlyAttack", "LossThresholdAttack", "ConfidenceThresholdAttack",
                 "ShadowModelAttack", "TorchMLPClassifier", "DPMLPClassifier", "train_shadow_models",
                 "roc_auc", "tpr_at_fpr", "attack_summary", "empirical_epsilon", "make_target_setting",
                 "setup_notebook", "__version__"]:
        assert name in mia_course.__all__, name


@pytest.mark.parametrize("name", [n for n in mia_course.__all__ if n not in ("__version__", "setup_notebook")])
def test_each_public_name_is_the_object_from_its_home_module(name):
    obj = getattr(mia_course, name)
    home = importlib.import_module(obj.__module__)
    assert getattr(home, name) is obj
    assert obj.__module__ == f"mia_course.{mia_course._HOMES[name]}"  # defined there, not re-exported


def test_dir_lists_the_public_api_and_unknown_names_raise():
    assert set(mia_course.__all__) <= set(dir(mia_course))
    with pytest.raises(AttributeError, match="no_such_thing"):
        mia_course.no_such_thing  # noqa: B018
    with pytest.raises(ImportError):
        exec("from mia_course import no_such_thing", {})


def test_star_import_gives_exactly_the_public_api():
    ns = {}
    exec("from mia_course import *", ns)
    assert set(ns) - {"__builtins__"} == set(mia_course.__all__)


def test_openmp_threads_sleep_when_idle_unless_the_user_chose():
    """Spinning OpenMP threads slow a busy laptop: the package asks for the passive wait policy
    before torch loads, and keeps a policy the user set."""
    import os
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run_fresh("import os, mia_course.models\nassert os.environ['OMP_WAIT_POLICY'] == 'PASSIVE'", env=env)
    run_fresh("import os, mia_course\nassert os.environ['OMP_WAIT_POLICY'] == 'ACTIVE'",
              env={**env, "OMP_WAIT_POLICY": "ACTIVE"})


def test_torch_imported_first_runs_on_one_thread():
    """A lesson that imports torch before mia_course is too late to ask OpenMP's threads to
    sleep (lesson 09 ran 6-12x slower next to a busy process): then torch runs on one thread.
    Imported after, or with a wait policy set from the start (the course's kernel), torch keeps
    its threads."""
    import os
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run_fresh("import torch\nn = torch.get_num_threads()\nimport mia_course\n"
              "assert torch.get_num_threads() == 1, torch.get_num_threads()", env=env)
    for first, policy in (("import mia_course, torch", None), ("import torch, mia_course", "PASSIVE"),
                          ("import torch, mia_course", "ACTIVE")):
        run_fresh(f"import os\nn = os.cpu_count()\n{first}\nassert torch.get_num_threads() == n, "
                  "torch.get_num_threads()", env=env if policy is None else {**env, "OMP_WAIT_POLICY": policy})


def test_the_package_is_typed():
    assert (ROOT / "mia_course" / "py.typed").is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in config["package-data"]["mia_course"]
    # that the wheel holds every subpackage (and py.typed) is tests/test_wheel.py's check
