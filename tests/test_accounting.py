"""The exact epsilon (Opacus's PRV accountant) against the Gaussian mechanism's closed form."""
import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from mia_course.accounting import epsilon_spent, exact_epsilon, noise_multiplier_for


def analytic_gaussian_epsilon(mu, delta):
    """Balle and Wang 2018 (Theorem 8), written out here independently of the package: the
    Gaussian mechanism with sensitivity / sigma = mu (T full-batch steps compose to
    mu = sqrt(T) / noise_multiplier) is (eps, delta(eps))-DP exactly for
    delta(eps) = Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2)."""
    def curve(eps):
        return norm.cdf(-eps / mu + mu / 2) - np.exp(eps) * norm.cdf(-eps / mu - mu / 2)
    return brentq(lambda e: curve(e) - delta, 0.0, 200.0, xtol=1e-10)


@pytest.mark.parametrize("sigma, steps, delta", [(1.0, 1, 1e-5), (3.5, 30, 1e-5), (22.0, 30, 1e-5),
                                                 (2.0, 100, 1e-3), (0.8, 4, 1e-6)])
def test_full_batch_is_the_analytic_gaussian(sigma, steps, delta):
    truth = analytic_gaussian_epsilon(np.sqrt(steps) / sigma, delta)
    got = exact_epsilon(sigma, 1.0, steps, delta, eps_error=0.01)
    assert truth - 1e-6 <= got <= truth + 0.02, (got, truth)  # an upper bound within its stated error


# lesson 12's full-batch audits: 30 steps, noise chosen by Opacus's RDP accountant for eps at 1e-5
@pytest.mark.parametrize("target, exact", [(8.0, 7.43), (4.0, 3.69), (2.0, 1.84), (1.0, 0.91)])
def test_rdp_slack_in_the_audited_setting(target, exact):
    sigma = noise_multiplier_for(target, 1e-5, 1.0, 30)
    rdp = epsilon_spent(sigma, 1.0, 30, 1e-5)
    assert rdp <= target + 1e-9
    assert exact_epsilon(sigma, 1.0, 30, 1e-5) == pytest.approx(exact, abs=0.02)
    assert analytic_gaussian_epsilon(np.sqrt(30) / sigma, 1e-5) == pytest.approx(exact, abs=0.005)
    assert exact_epsilon(sigma, 1.0, 30, 1e-5) < rdp - 0.05  # RDP's conversion has slack


def test_poisson_sampling_exact_is_below_rdp_and_amplified():
    sigma, q, steps = 1.15, 1 / 16, 480  # lesson 09's DP-SGD setting at eps = 8
    exact = exact_epsilon(sigma, q, steps, 1e-5)
    assert exact < epsilon_spent(sigma, q, steps, 1e-5)
    assert exact < exact_epsilon(sigma, 1.0, steps, 1e-5) / 10  # subsampling amplifies
    assert exact_epsilon(2 * sigma, q, steps, 1e-5) < exact  # more noise, less epsilon


def test_no_noise_no_guarantee():
    assert exact_epsilon(0.0, 0.5, 10, 1e-5) == float("inf")


@pytest.mark.parametrize("call, error, word", [
    (lambda: exact_epsilon(-1.0, 1.0, 3, 1e-5), ValueError, "noise_multiplier"),
    (lambda: exact_epsilon(1.0, 0.0, 3, 1e-5), ValueError, "sample_rate"),
    (lambda: exact_epsilon(1.0, 1.5, 3, 1e-5), ValueError, "sample_rate"),
    (lambda: exact_epsilon(1.0, 1.0, 2.5, 1e-5), TypeError, "steps"),
    (lambda: exact_epsilon(1.0, 1.0, 3, 0.0), ValueError, "delta"),
    (lambda: exact_epsilon(1.0, 1.0, 3, 1e-5, eps_error=0), ValueError, "eps_error"),
])
def test_bad_input_is_named(call, error, word):
    with pytest.raises(error, match=word):
        call()


# ---- remembered answers: the questions the lessons ask, answered once by Opacus ----
import json  # noqa: E402

from mia_course import accounting  # noqa: E402


def test_every_remembered_answer_is_opacus_answer():
    answers = accounting.remembered_answers()
    assert sum(len(t) for t in answers.values()) >= 30, "the lessons' questions are remembered"
    assert accounting.verify_remembered_answers() == []


def test_a_wrong_remembered_answer_is_caught():
    """A deliberate breakage: one noise multiplier 10% too small (more epsilon than claimed)."""
    answers = {name: dict(table) for name, table in accounting.remembered_answers().items()}
    key = next(iter(answers["noise_multiplier_for"]))
    answers["noise_multiplier_for"][key] *= 0.9
    wrong = accounting.verify_remembered_answers({"noise_multiplier_for": {key: answers["noise_multiplier_for"][key]}})
    assert len(wrong) == 1 and "Opacus says" in wrong[0]
    assert accounting.verify_remembered_answers({"made_up": {}}) == ["made_up: not a remembered function"]


def test_a_remembered_answer_is_used_and_others_go_to_opacus(monkeypatch, tmp_path):
    key = next(iter(accounting.remembered_answers()["noise_multiplier_for"]))
    eps, delta, q, steps = json.loads(key)
    log = tmp_path / "questions.jsonl"
    monkeypatch.setenv("MIA_COURSE_ACCOUNTING_LOG", str(log))
    calls = []
    monkeypatch.setattr(accounting, "opacus_noise_multiplier", lambda *a: calls.append(a) or 1.0)
    monkeypatch.setitem(accounting.ASK_OPACUS, "noise_multiplier_for", accounting.opacus_noise_multiplier)
    accounting.noise_multiplier_for.cache_clear()
    try:
        assert accounting.noise_multiplier_for(eps, delta, q, steps) == accounting.remembered_answers()[
            "noise_multiplier_for"][key]
        assert calls == [] and not log.exists()  # remembered: Opacus is not asked
        # a question no lesson asks goes to Opacus, and is logged
        assert accounting.noise_multiplier_for(eps + 0.123, delta, q, steps) == 1.0
        assert len(calls) == 1 and json.loads(log.read_text())["args"] == [eps + 0.123, delta, q, steps]
    finally:
        accounting.noise_multiplier_for.cache_clear()


def test_the_same_question_has_the_same_key():
    import numpy as np
    assert accounting.question_key(8.0, 1e-5, 1 / 16, 480) == accounting.question_key(np.float64(8), 1e-5, 0.0625, 480)
