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
"""
import functools
import warnings

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


@functools.lru_cache(maxsize=1024)
def noise_multiplier_for(target_epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """The noise multiplier Opacus's RDP accountant needs for (epsilon, delta) after
    ``steps`` Poisson-sampled steps at ``sample_rate``.

    Introduced in notebooks/09_differential_privacy.ipynb."""
    return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta,
                                      sample_rate=sample_rate, steps=steps, accountant="rdp"))


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
    accountant = PRVAccountant()
    accountant.history = [(noise_multiplier, sample_rate, steps)]
    with np.errstate(divide="ignore"):  # log(1 - q) = -inf at q = 1: Opacus handles it
        return float(accountant.get_epsilon(delta, eps_error=eps_error))
