"""Privacy budgets and the noise they need: shared by every DP-SGD trainer in the package.

Introduced in notebooks/09_differential_privacy.ipynb.

``check_privacy`` validates a budget (epsilon, delta, clipping norm C); ``noise_multiplier_for``
asks Opacus's RDP accountant how much Gaussian noise (in units of C) reaches that epsilon at
delta after a number of Poisson-sampled steps. The single private model
(``mia_course.defenses.dp_models``) and the batched private shadows
(``mia_course.training.dp_stacked``) both use them, so they spend the same budget the same way;
``epsilon_spent`` reads back what a run spent. Both are pure functions of their arguments and
remembered (a lesson asks Opacus the same question once per target and reference model: about
0.7 s each time for ``noise_multiplier_for``).

RDP accounting is an upper bound with slack: converting Rényi DP to (epsilon, delta) loses a
little. ``exact_epsilon`` computes the epsilon of the same noise, sampling rate and steps from
the mechanism's exact privacy curve (the privacy loss random variable, numerically composed by
Opacus's PRV accountant, Gopi, Lee and Wutschitz 2021; within ``eps_error``, rounded up). An
audit can never prove more than this; an audit that does has found a bug.

Opacus answers each question by a search (about 0.1 s to 3 s). The answers to the questions the
lessons and the playground ask are remembered in ``accounting_answers.json`` next to this module
(``remembered_answers``), written by ``python -m mia_course.accounting --add LOG`` from Opacus
itself, and ``tests/test_accounting.py`` asks Opacus every one of them again
(``verify_remembered_answers``): a remembered answer that is not Opacus's fails the tests. Any
other question goes to Opacus. With the environment variable ``MIA_COURSE_ACCOUNTING_LOG=FILE``,
each question that went to Opacus is appended to FILE (one JSON line).
"""
import functools
import json
import os
import warnings
from pathlib import Path

import numpy as np
from opacus.accountants import PRVAccountant, RDPAccountant
from opacus.accountants.utils import get_noise_multiplier

from mia_course._validation import check_int, check_real


def check_privacy(target_epsilon: float, delta: float, max_grad_norm: float) -> None:
    """Validate a privacy budget: epsilon > 0, delta in (0, 1), max_grad_norm (C) > 0.

    Introduced in notebooks/09_differential_privacy.ipynb."""
    if not isinstance(target_epsilon, (int, float)) or isinstance(target_epsilon, bool):
        raise TypeError(f"target_epsilon: expected a number, got {target_epsilon!r}")
    if not target_epsilon > 0:
        raise ValueError(f"target_epsilon: expected a number > 0, got {target_epsilon}")
    check_real(delta, "delta", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    check_real(max_grad_norm, "max_grad_norm", minimum=0.0, strict_min=True)


ANSWERS_PATH = Path(__file__).with_name("accounting_answers.json")


def question_key(*args: float) -> str:
    """The key of one question to the accountant: its arguments as a JSON list (floats written
    exactly, so the same question always has the same key).

    Introduced in notebooks/09_differential_privacy.ipynb."""
    return json.dumps([a if isinstance(a, int) and not isinstance(a, bool) else float(a) for a in args])


@functools.lru_cache(maxsize=1)
def remembered_answers() -> dict[str, dict[str, float]]:
    """Opacus's answers to the questions the lessons ask, by function name and ``question_key``
    (read once from ``ANSWERS_PATH``; empty if the file is missing).

    Introduced in notebooks/09_differential_privacy.ipynb."""
    if not ANSWERS_PATH.exists():
        return {}
    return json.loads(ANSWERS_PATH.read_text())


def _ask(name: str, args: tuple, compute) -> float:
    key = question_key(*args)
    known = remembered_answers().get(name, {}).get(key)
    if known is not None:
        return float(known)
    log = os.environ.get("MIA_COURSE_ACCOUNTING_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"function": name, "args": json.loads(key)}) + "\n")
    return compute(*args)


def opacus_noise_multiplier(target_epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """``noise_multiplier_for`` asked of Opacus, never remembered.

    Introduced in notebooks/09_differential_privacy.ipynb."""
    return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta,
                                      sample_rate=sample_rate, steps=steps, accountant="rdp"))


@functools.lru_cache(maxsize=1024)
def noise_multiplier_for(target_epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """The noise multiplier Opacus's RDP accountant needs for (epsilon, delta) after
    ``steps`` Poisson-sampled steps at ``sample_rate`` (a remembered answer of Opacus when
    the question is one the lessons ask, see the module's docstring).

    Introduced in notebooks/09_differential_privacy.ipynb."""
    question = (float(target_epsilon), float(delta), float(sample_rate), int(steps))
    return _ask("noise_multiplier_for", question, opacus_noise_multiplier)


@functools.lru_cache(maxsize=1024)
def epsilon_spent(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """The epsilon at ``delta`` that Opacus's RDP accountant reports after ``steps``
    Poisson-sampled steps at ``sample_rate`` with Gaussian noise of ``noise_multiplier``.

    Introduced in notebooks/11_defense_scorecard.ipynb."""
    if not noise_multiplier > 0:
        return float("inf")  # no noise, no guarantee
    accountant = RDPAccountant()
    accountant.history = [(float(noise_multiplier), float(sample_rate), int(steps))]
    with warnings.catch_warnings():  # "optimal order is the smallest/largest alpha": a looser bound, still valid
        warnings.filterwarnings("ignore", message="Optimal order", category=UserWarning)
        return float(accountant.get_epsilon(delta))


@functools.lru_cache(maxsize=1024)
def exact_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float, *,
                  eps_error: float = 0.01) -> float:
    """The exact epsilon at ``delta`` of ``steps`` Poisson-sampled Gaussian steps (sampling rate
    ``sample_rate``, noise ``noise_multiplier`` times the clipping norm): the privacy loss
    distribution composed numerically by Opacus's ``PRVAccountant``, an upper bound at most
    ``eps_error`` above the true value. Smaller than ``epsilon_spent`` (RDP's bound) for the
    same run. With ``sample_rate=1`` (full batch) it is the Gaussian mechanism's closed form of
    Balle and Wang 2018 with mu = sqrt(steps) / noise_multiplier (tests/test_accounting.py).
    Remembered, like ``noise_multiplier_for`` (about 0.06 s a call).

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    noise_multiplier = check_real(noise_multiplier, "noise_multiplier", minimum=0.0)
    sample_rate = check_real(sample_rate, "sample_rate", minimum=0.0, maximum=1.0, strict_min=True)
    steps = check_int(steps, "steps", minimum=1)
    delta = check_real(delta, "delta", minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    eps_error = check_real(eps_error, "eps_error", minimum=0.0, strict_min=True)
    if noise_multiplier == 0:
        return float("inf")  # no noise, no guarantee
    question = (float(noise_multiplier), float(sample_rate), int(steps), float(delta), float(eps_error))
    return _ask("exact_epsilon", question, opacus_exact_epsilon)


def opacus_exact_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float,
                         eps_error: float = 0.01) -> float:
    """``exact_epsilon`` asked of Opacus's PRV accountant, never remembered.

    Introduced in notebooks/12_auditing_with_canaries.ipynb."""
    accountant = PRVAccountant()
    accountant.history = [(noise_multiplier, sample_rate, steps)]
    with np.errstate(divide="ignore"):  # log(1 - q) = -inf at q = 1: Opacus handles it
        return float(accountant.get_epsilon(delta, eps_error=eps_error))


ASK_OPACUS = {"noise_multiplier_for": opacus_noise_multiplier, "exact_epsilon": opacus_exact_epsilon}


def verify_remembered_answers(answers: dict[str, dict[str, float]] | None = None) -> list[str]:
    """Ask Opacus every remembered question again; returns one line per answer that differs
    from Opacus's (by more than one part in 10^9) or names an unknown function: [] when all hold.

    Introduced in notebooks/09_differential_privacy.ipynb."""
    answers = remembered_answers() if answers is None else answers
    wrong = []
    for name, table in answers.items():
        if name not in ASK_OPACUS:
            wrong.append(f"{name}: not a remembered function")
            continue
        for key, value in table.items():
            truth = ASK_OPACUS[name](*json.loads(key))
            if not abs(truth - value) <= 1e-9 * abs(truth):
                wrong.append(f"{name}{tuple(json.loads(key))}: remembered {value!r}, Opacus says {truth!r}")
    return wrong


def add_answers(log: str | os.PathLike[str]) -> int:
    """Ask Opacus each question of ``log`` (lines written under ``MIA_COURSE_ACCOUNTING_LOG``)
    and remember the answers in ``ANSWERS_PATH``; returns how many are new.

    Introduced in notebooks/09_differential_privacy.ipynb."""
    answers = {name: dict(table) for name, table in remembered_answers().items()}
    new = 0
    for line in Path(log).read_text().splitlines():
        question = json.loads(line)
        name, key = question["function"], question_key(*question["args"])
        if key not in answers.setdefault(name, {}):
            answers[name][key] = ASK_OPACUS[name](*question["args"])
            new += 1
    ANSWERS_PATH.write_text(json.dumps({n: dict(sorted(t.items())) for n, t in sorted(answers.items())}, indent=1) + "\n")
    remembered_answers.cache_clear()
    return new


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Remember Opacus's answers to the questions in a log.")
    parser.add_argument("--add", required=True, help="a file written under MIA_COURSE_ACCOUNTING_LOG")
    print(f"{add_answers(parser.parse_args().add)} new answers in {ANSWERS_PATH}")
