"""Output perturbation: change what the model's API returns, not the model.

Introduced in notebooks/10_output_perturbation.ipynb.

Each wrapper takes a fitted model and is itself a model (``predict_proba``, ``predict``,
``classes_``), so every attack runs on it unchanged. All of them keep valid probabilities
(non-negative, rows summing to 1) and never change the predicted label: accuracy is
untouched, only the confidences are blurred, rounded or hidden.
"""
import numpy as np
from sklearn.utils import check_random_state

from mia_course._validation import check_int, check_matrix, check_model, check_real
from mia_course.hints import ArrayLike, ProbabilisticModel, RandomStateLike


class _OutputWrapper:
    def __init__(self, model: ProbabilisticModel) -> None:
        self.model = check_model(model)
        self.classes_ = np.asarray(getattr(model, "classes_", None)) if hasattr(model, "classes_") else None

    def _raw(self, X: ArrayLike) -> np.ndarray:
        return np.asarray(self.model.predict_proba(check_matrix(X, "X")), dtype=np.float64)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The wrapped model's labels (never changed by the wrapper)."""
        P = self._raw(X)
        classes = self.classes_ if self.classes_ is not None else np.arange(P.shape[1])
        return classes[P.argmax(axis=1)]


def keep_top_class(P_new: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Swap columns so that each row's largest entry sits in column ``top[i]`` again."""
    P_new = P_new.copy()
    rows = np.arange(len(top))
    now = P_new.argmax(axis=1)
    moved = now != top
    a, b = P_new[rows[moved], top[moved]], P_new[rows[moved], now[moved]]
    P_new[rows[moved], top[moved]], P_new[rows[moved], now[moved]] = b, a
    tied = (P_new >= P_new[rows, top][:, None]).sum(axis=1) > 1  # e.g. an all-uniform row
    P_new[rows[tied], top[tied]] += 1e-6
    return P_new / P_new.sum(axis=1, keepdims=True)


class NoisyOutputs(_OutputWrapper):
    """Gaussian noise of standard deviation ``scale`` on every probability, clipped at 0,
    renormalized, with the top class kept on top. Every call draws fresh noise.
    ``independent_copy(k)``: the same defense on the same model with a noise stream of its
    own (what an attacker uses to simulate the defense on each of its shadow models).

    Introduced in notebooks/10_output_perturbation.ipynb."""

    def __init__(self, model: ProbabilisticModel, scale: float, random_state: RandomStateLike = None) -> None:
        super().__init__(model)
        self.scale = check_real(scale, "scale", minimum=0.0)
        self.random_state = random_state
        self._rng = check_random_state(random_state)

    def independent_copy(self, index: int) -> "NoisyOutputs":
        """This defense with noise stream ``index`` of its ``random_state`` (an int seed gives
        reproducible, mutually independent streams ``0, 1, ...``; a ``RandomState`` is drawn
        from; None draws fresh). An attacker that passes many shadow models through one
        seeded factory, ``lambda m: NoisyOutputs(m, 0.1, random_state=0)``, would otherwise
        give every shadow the very same noise: their spread would then not contain the noise,
        and the target's own noise would look like a signal.

        Introduced in notebooks/10_output_perturbation.ipynb."""
        index = check_int(index, "index", minimum=0)
        rs = self.random_state
        if rs is None:
            stream = None
        elif isinstance(rs, np.random.RandomState):
            stream = rs.randint(2**31 - 1)
        else:
            stream = np.random.RandomState(np.random.SeedSequence([int(rs), index]).generate_state(4))
        return NoisyOutputs(self.model, self.scale, random_state=stream)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        P = self._raw(X)
        noisy = np.clip(P + self._rng.normal(0.0, self.scale, P.shape), 0.0, None)
        noisy[noisy.sum(axis=1) == 0] = 1.0  # all clipped: fall back to uniform
        noisy /= noisy.sum(axis=1, keepdims=True)
        return keep_top_class(noisy, P.argmax(axis=1))


class RoundedOutputs(_OutputWrapper):
    """Probabilities with ``decimals`` decimals: the other classes rounded down, the top
    class gets the rest (so rows still sum to 1 and the label stays). ``decimals=0`` is a
    one-hot answer.

    Introduced in notebooks/10_output_perturbation.ipynb."""

    def __init__(self, model: ProbabilisticModel, decimals: int) -> None:
        super().__init__(model)
        self.decimals = check_int(decimals, "decimals", minimum=0)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        P = self._raw(X)
        top = P.argmax(axis=1)
        step = 10.0 ** -self.decimals
        out = np.floor(P / step + 1e-9) * step
        rows = np.arange(len(top))
        out[rows, top] = 0.0
        out[rows, top] = 1.0 - out.sum(axis=1)
        return out


class LabelOnlyOutputs(_OutputWrapper):
    """Only the top-1 label: ``predict_proba`` is one-hot.

    Introduced in notebooks/10_output_perturbation.ipynb."""

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        P = self._raw(X)
        out = np.zeros_like(P)
        out[np.arange(len(P)), P.argmax(axis=1)] = 1.0
        return out
