"""Synthetic browsing histories for the ad-click story, and a small real data set.

Introduced in notebooks/01_alice_and_the_ad_model.ipynb.

The generator describes one *world*: which sites exist, how popular each is, which
interest segments users fall into and how visits drive clicks. The world is fixed
(its own seed), so two calls with different ``random_state`` draw different users of
the same population. ``shift`` perturbs the world slightly: that is the attacker's
"similar but synthetic" data.
"""
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

from mia_course._validation import check_int, check_real
from mia_course.hints import ArrayLike, RandomStateLike

SENSITIVE_SITES = (
    "example.com/rare-disease-info",
    "example.com/debt-counselling",
    "example.com/addiction-support",
    "example.com/divorce-lawyers",
)
RARE_DISEASE_SITE = SENSITIVE_SITES[0]
SEGMENTS = ("sports", "tech", "family", "travel")
_GENERAL = ("search", "news", "mail", "weather", "video", "social", "maps", "shop",
            "wiki", "music", "recipes", "jobs", "forum", "photos", "games", "bank")
_TOPICS = {
    "sports": ("scores", "football", "running", "cycling", "fantasy-league", "gym"),
    "tech": ("gadgets", "code-help", "reviews", "open-source", "phones", "cloud"),
    "family": ("parenting", "toys", "school", "baby-gear", "family-cars", "diy"),
    "travel": ("flights", "hotels", "city-guides", "camping", "rail", "visas"),
}
_WORLD_SEED = 20240501  # fixes the world; users are drawn with random_state


@dataclass
class AdClicks:
    """Users x sites visit matrix ``X`` (float32, 0/1), clicks ``y`` (int64) and names."""
    X: np.ndarray
    y: np.ndarray
    site_names: list[str]
    segment: np.ndarray  # each user's interest segment (for analysis only)

    def __len__(self) -> int:
        return len(self.y)

    def site_index(self, name: str) -> int:
        """Column of ``name`` in ``X``."""
        if name not in self.site_names:
            raise ValueError(f"site_name: unknown site {name!r}")
        return self.site_names.index(name)


def site_names() -> list[str]:
    """All sites of the world, common ones first, the sensitive rare sites last."""
    names = [f"{g}.example.com" for g in _GENERAL]
    for seg in SEGMENTS:
        names += [f"{seg}-{t}.example.com" for t in _TOPICS[seg]]
    names += [f"niche-{k:02d}.example.com" for k in range(16)]
    return names + list(SENSITIVE_SITES)


def _world(shift, rng):
    """Parameters of the population; ``shift`` > 0 perturbs them (attacker's world)."""
    w = np.random.default_rng(_WORLD_SEED)
    names = site_names()
    n_sites = len(names)
    n_gen, n_top = len(_GENERAL), sum(len(t) for t in _TOPICS.values())
    # popularity: general sites common, topic sites medium, niche and sensitive rare
    pop = np.concatenate([
        0.45 * (np.arange(n_gen) + 1.0) ** -0.6,
        np.full(n_top, 0.05),
        np.geomspace(0.04, 0.008, 16),
        np.full(len(SENSITIVE_SITES), 0.003),
    ])
    boost = np.zeros((len(SEGMENTS), n_sites))
    for s, seg in enumerate(SEGMENTS):
        start = n_gen + s * 6
        boost[s, start:start + 6] = 2.2  # a segment's own topic sites
    # clicks: driven by segment, by general and topic sites; niche and sensitive sites
    # carry no signal, so a model can only use them by memorizing individuals
    seg_bias = np.array([0.6, -0.4, 0.3, -0.6])
    weights = np.zeros(n_sites)
    weights[:n_gen + n_top] = w.normal(0.0, 0.9, n_gen + n_top)
    if shift > 0:
        pop = np.clip(pop * np.exp(rng.normal(0, shift, n_sites)), 1e-4, 0.9)
        seg_bias = seg_bias + rng.normal(0, shift, len(seg_bias))
        weights = weights + rng.normal(0, shift, n_sites) * (weights != 0)
    return names, pop, boost, seg_bias, weights


def make_ad_clicks(n_users: int, *, random_state: RandomStateLike = None, shift: float = 0.0) -> AdClicks:
    """Draw ``n_users`` synthetic users: browsing histories and whether they clicked.

    ``shift`` (0 = the real population) perturbs site popularity and click behaviour;
    the attacker's similar-but-synthetic data uses ``shift=0.2`` and another seed.
    Introduced in notebooks/01_alice_and_the_ad_model.ipynb.
    """
    n_users = check_int(n_users, "n_users", minimum=1)
    shift = check_real(shift, "shift", minimum=0.0)
    rng = check_random_state(random_state)
    names, pop, boost, seg_bias, weights = _world(shift, rng)
    segment = rng.randint(len(SEGMENTS), size=n_users)
    logit = np.log(pop / (1 - pop))[None, :] + boost[segment]
    X = (rng.random_sample(logit.shape) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    click_logit = X @ weights + seg_bias[segment] - 0.4
    y = (rng.random_sample(n_users) < 1 / (1 + np.exp(-click_logit))).astype(np.int64)
    return AdClicks(X=X, y=y, site_names=names, segment=segment)


def make_attacker_data(n_users: int, *, random_state: RandomStateLike = None, shift: float = 0.2) -> AdClicks:
    """The attacker's similar but synthetic data: same generator, other seed, shifted world.

    Introduced in notebooks/03_shadow_models.ipynb.
    """
    return make_ad_clicks(n_users, random_state=random_state, shift=shift)


def alice() -> tuple[np.ndarray, int]:
    """Alice: a family-segment user who visited the rare-disease site, and clicked.

    Returns ``(x, y)``: her visit vector (float32, 1-D) and her click (1).
    Introduced in notebooks/01_alice_and_the_ad_model.ipynb.
    """
    names = site_names()
    visited = ["search.example.com", "news.example.com", "mail.example.com",
               "weather.example.com", "shop.example.com", "recipes.example.com",
               "family-parenting.example.com", RARE_DISEASE_SITE]
    x = np.zeros(len(names), dtype=np.float32)
    x[[names.index(s) for s in visited]] = 1.0
    return x, 1


def without_site(x: ArrayLike, site_name: str) -> np.ndarray:
    """A copy of the visit vector ``x`` with the visit to ``site_name`` removed."""
    x = np.asarray(x, dtype=np.float32)
    names = site_names()
    if x.ndim != 1 or x.shape[0] != len(names):
        raise ValueError(f"x: expected a 1-D visit vector of length {len(names)}, got shape {x.shape}")
    if site_name not in names:
        raise ValueError(f"site_name: unknown site {site_name!r}")
    out = x.copy()
    out[names.index(site_name)] = 0.0
    return out


@dataclass
class MembershipSplit:
    """Disjoint row indices: the target's training set, held-out users, attacker's users."""
    members: np.ndarray
    non_members: np.ndarray
    attacker: np.ndarray


def split_members(n_records: int, n_members: int, n_non_members: int, n_attacker: int = 0, *,
                  random_state: RandomStateLike = None) -> MembershipSplit:
    """Draw disjoint member / non-member / attacker index sets from ``range(n_records)``.

    Introduced in notebooks/01_alice_and_the_ad_model.ipynb.
    """
    n_records = check_int(n_records, "n_records", minimum=1)
    n_members = check_int(n_members, "n_members", minimum=1)
    n_non_members = check_int(n_non_members, "n_non_members", minimum=1)
    n_attacker = check_int(n_attacker, "n_attacker", minimum=0)
    total = n_members + n_non_members + n_attacker
    if total > n_records:
        raise ValueError(f"n_members + n_non_members + n_attacker = {total} exceeds "
                         f"n_records = {n_records}")
    perm = check_random_state(random_state).permutation(n_records)
    a, b = n_members, n_members + n_non_members
    return MembershipSplit(np.sort(perm[:a]), np.sort(perm[a:b]), np.sort(perm[b:total]))


def load_patients() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """scikit-learn's bundled breast-cancer records (569 patients, no download).

    Returns ``(X, y, feature_names)`` with ``X`` standardized float32 and ``y`` int64
    (1 = benign). Introduced in notebooks/07_audit_your_own_model.ipynb.
    """
    from sklearn.datasets import load_breast_cancer
    d = load_breast_cancer()
    X = (d.data - d.data.mean(0)) / d.data.std(0)
    return X.astype(np.float32), d.target.astype(np.int64), list(d.feature_names)
