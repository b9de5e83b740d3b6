"""What the single private model (``DPMLPClassifier``, Opacus) actually does, checked from outside:
the batches it trains on are Poisson-sampled (the accountant's epsilon assumes it), and with early
stopping it claims the planned budget, not less."""
import numpy as np
import pytest
import torch

import mia_course.defenses.dp_models as dp_models
from mia_course.accounting import epsilon_spent
from mia_course.data import make_ad_clicks
from mia_course.defenses.dp_models import DPMLPClassifier


def train_recording_batches(monkeypatch, estimator, X, y):
    """Fit ``estimator`` and return the size of every batch its network trained on."""
    sizes, build = [], dp_models.build_mlp

    def recording_build_mlp(*args, **kwargs):
        net = build(*args, **kwargs)
        net.register_forward_pre_hook(lambda module, inputs: sizes.append(len(inputs[0])) if module.training else None)
        return net

    monkeypatch.setattr(dp_models, "build_mlp", recording_build_mlp)
    estimator.fit(X, y)
    return np.array(sizes)


def test_dp_mlp_trains_on_poisson_sampled_batches(monkeypatch):
    """Opacus's rate is q = 1 / ceil(n / batch_size); each step takes each row independently,
    so the batch size is Binomial(n, q). 1,024 rows and batch_size 64 make fixed-size batches
    (shuffled or not) exactly 64 = q n every time: variance 0, which this test refuses."""
    data = make_ad_clicks(1024, random_state=0)
    est = DPMLPClassifier(target_epsilon=4.0, epochs=10, batch_size=64, random_state=0)
    sizes = train_recording_batches(monkeypatch, est, data.X, data.y)
    n, q = 1024, 1 / 16
    assert len(sizes) >= 10 * 16 - 2, f"{len(sizes)} non-empty batches for 160 planned steps"
    z = (sizes.sum() - q * n * len(sizes)) / np.sqrt(q * (1 - q) * n * len(sizes))
    assert abs(z) < 4, f"mean batch size {sizes.mean():.2f}, expected {q * n:.1f} (z = {z:.1f})"
    var_ratio = np.mean((sizes - q * n) ** 2) / (q * (1 - q) * n)
    assert 0.5 < var_ratio < 1.6, f"batch-size variance {var_ratio:.2f} x the Poisson variance"
    assert est.epsilon_ == pytest.approx(epsilon_spent(est.noise_multiplier_, q, 160, est.delta))


def test_early_stopping_claims_the_planned_budget():
    """Stopping depends on the data, so the steps it skips cannot be claimed back: ``epsilon_``
    is the epsilon of every planned step, and the held-out rows are named."""
    data = make_ad_clicks(600, random_state=0)
    planned = DPMLPClassifier(target_epsilon=2.0, epochs=30, random_state=0).fit(data.X, data.y)
    stopped = DPMLPClassifier(target_epsilon=2.0, epochs=30, early_stopping=True, patience=1,
                              random_state=0).fit(data.X, data.y)
    assert stopped.n_epochs_ < 30, "the test needs a run that stops early"
    n_train = 600 - len(stopped.validation_rows_)
    steps = 30 * int(np.ceil(n_train / 64))
    assert stopped.epsilon_ == pytest.approx(epsilon_spent(stopped.noise_multiplier_, 1 / np.ceil(n_train / 64),
                                                           steps, 1e-5))
    assert stopped.epsilon_ == pytest.approx(2.0, abs=0.02), "the planned budget, as without early stopping"
    assert planned.epsilon_ == pytest.approx(2.0, abs=0.02)
    assert len(stopped.validation_rows_) == 60 and len(np.unique(stopped.validation_rows_)) == 60
    assert len(planned.validation_rows_) == 0
