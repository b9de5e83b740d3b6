"""Shadow training data from the target alone: Shokri et al.'s model-based synthesis.

Introduced in notebooks/03_shadow_models.ipynb.

An attacker who knows nothing of the data searches for inputs that the target model
classifies with high confidence: start from a random binary record, flip ``k`` features,
keep the change when the target's confidence in the wanted class does not drop, halve
``k`` after too many rejections, and accept a record once the target is confident (with
probability equal to that confidence, so that records are not all extreme). Many search
chains run at once: one ``predict_proba`` call per step for all of them.
"""
import numpy as np
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

from mia_course._validation import check_int, check_model, check_real
from mia_course.hints import ProbabilisticModel, RandomStateLike


def synthesize_records(model: ProbabilisticModel, n_records: int, n_features: int, *, conf_min: float = 0.8,
                       density: float = 0.5, k_max: int | None = None, k_min: int = 1, rej_max: int = 10,
                       max_steps: int = 300,
                       random_state: RandomStateLike = None) -> tuple[np.ndarray, np.ndarray, int]:
    """``n_records`` binary records per class that ``model`` classifies confidently.

    Returns ``(X, y, n_queries)``: the records (float32), the class each was searched
    for, and how many records the attacker sent to the model in total. Classes whose
    search does not finish within ``max_steps`` steps contribute fewer records.
    Introduced in notebooks/03_shadow_models.ipynb.
    """
    check_model(model)
    n_records = check_int(n_records, "n_records", minimum=1)
    n_features = check_int(n_features, "n_features", minimum=1)
    conf_min = check_real(conf_min, "conf_min", minimum=0.0, maximum=1.0)
    density = check_real(density, "density", minimum=0.0, maximum=1.0)
    k_max = check_int(k_max if k_max is not None else max(1, n_features // 4), "k_max", minimum=1,
                      maximum=n_features)
    k_min = check_int(k_min, "k_min", minimum=1, maximum=k_max)
    rej_max = check_int(rej_max, "rej_max", minimum=1)
    max_steps = check_int(max_steps, "max_steps", minimum=1)
    rng = check_random_state(random_state)
    n_classes = len(getattr(model, "classes_", [0, 1]))
    classes = np.asarray(getattr(model, "classes_", np.arange(n_classes)))
    X_out, y_out, n_queries = [], [], 0
    for ci in tqdm(range(n_classes), desc="synthesizing classes", leave=False):
        found, queries = _search_class(model, ci, n_records, n_features, conf_min, density,
                                       k_max, k_min, rej_max, max_steps, rng)
        X_out.append(found)
        y_out.append(np.full(len(found), classes[ci]))
        n_queries += queries
    return np.vstack(X_out).astype(np.float32), np.concatenate(y_out), n_queries


def _flip(x, k, rng):
    """Flip ``k[i]`` distinct random features of row ``i`` of ``x`` (in place; returns ``x``):
    the first ``k[i]`` of a permutation, exactly what ``rng.choice(n_features, k[i],
    replace=False)`` draws, at a third of its cost, and every row flipped at once."""
    cols = np.concatenate([rng.permutation(x.shape[1])[:ki] for ki in k])
    rows = np.repeat(np.arange(len(k)), k)
    x[rows, cols] = 1.0 - x[rows, cols]
    return x


def _search_class(model, ci, n_records, n_features, conf_min, density, k_max, k_min,
                  rej_max, max_steps, rng):
    """Run ``n_records`` hill-climbing chains for class index ``ci`` in parallel."""
    n = n_records
    best = (rng.random_sample((n, n_features)) < density).astype(np.float32)
    best_conf = np.zeros(n)
    k = np.full(n, k_max)
    rejections = np.zeros(n, dtype=int)
    x = best.copy()
    accepted, queries = [], 0
    for _ in range(max_steps):
        P = np.asarray(model.predict_proba(x))
        conf, queries = P[:, ci], queries + len(x)
        improved = conf >= best_conf
        done = improved & (conf > conf_min) & (P.argmax(axis=1) == ci) \
            & (rng.random_sample(len(x)) < conf)
        accepted.append(x[done])
        best[improved] = x[improved]
        best_conf[improved] = conf[improved]
        rejections = np.where(improved, 0, rejections + 1)
        halve = rejections > rej_max
        k = np.where(halve, np.maximum(k_min, np.ceil(k / 2)).astype(int), k)
        rejections[halve] = 0
        keep = ~done  # finished chains stop; the rest flip k random features of their best
        best, best_conf, k, rejections = best[keep], best_conf[keep], k[keep], rejections[keep]
        if len(best) == 0:
            break
        x = _flip(best.copy(), k, rng)
    return np.vstack(accepted)[:n_records], queries
