import numpy as np
import pytest

from mia_course.data import (RARE_DISEASE_SITE, SENSITIVE_SITES, alice, load_patients,
                             make_ad_clicks, make_attacker_data, site_names, split_members,
                             without_site)


def test_make_ad_clicks_shapes_and_dtypes(ad):
    n_sites = len(site_names())
    assert ad.X.shape == (400, n_sites) and ad.X.dtype == np.float32
    assert ad.y.shape == (400,) and ad.y.dtype == np.int64
    assert set(np.unique(ad.X)) <= {0.0, 1.0}
    assert set(np.unique(ad.y)) == {0, 1}
    assert len(ad) == 400 and ad.segment.shape == (400,)
    assert ad.site_names == site_names() and len(set(ad.site_names)) == n_sites
    assert RARE_DISEASE_SITE == "example.com/rare-disease-info"
    assert ad.site_names[ad.site_index(RARE_DISEASE_SITE)] == RARE_DISEASE_SITE


def test_same_seed_identical_other_seed_differs():
    a, b = make_ad_clicks(300, random_state=7), make_ad_clicks(300, random_state=7)
    c = make_ad_clicks(300, random_state=8)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)


def test_shift_changes_the_population():
    base = make_ad_clicks(4000, random_state=0)
    same_world = make_ad_clicks(4000, random_state=1)
    shifted = make_ad_clicks(4000, random_state=1, shift=0.5)
    noise = np.abs(base.X.mean(0) - same_world.X.mean(0)).max()  # sampling noise only
    moved = np.abs(base.X.mean(0) - shifted.X.mean(0)).max()
    assert moved > 0.05 and moved > 2 * noise
    # the attacker's data is shifted by default: not the same draw as the real world
    assert not np.array_equal(make_attacker_data(300, random_state=3).X,
                              make_ad_clicks(300, random_state=3).X)
    np.testing.assert_array_equal(make_attacker_data(300, random_state=3, shift=0.0).X,
                                  make_ad_clicks(300, random_state=3).X)


def test_rare_sites_rare_popular_sites_common():
    d = make_ad_clicks(20000, random_state=0)
    rate = d.X.mean(0)
    for site in SENSITIVE_SITES:
        assert 0 < rate[d.site_index(site)] < 0.01
    assert rate[d.site_index("search.example.com")] > 0.3
    assert np.sort(rate)[-5:].min() > 0.15
    assert 0.1 < d.y.mean() < 0.9


def test_alice_visited_rare_site_and_clicked():
    x, y = alice()
    names = site_names()
    assert x.shape == (len(names),) and x.dtype == np.float32
    assert set(np.unique(x)) == {0.0, 1.0}
    assert x[names.index(RARE_DISEASE_SITE)] == 1.0
    assert y == 1


def test_without_site_removes_exactly_that_visit():
    x, _ = alice()
    x_before = x.copy()
    out = without_site(x, RARE_DISEASE_SITE)
    changed = np.flatnonzero(out != x)
    assert list(changed) == [site_names().index(RARE_DISEASE_SITE)]
    assert out[changed[0]] == 0.0
    np.testing.assert_array_equal(x, x_before)  # input not modified
    np.testing.assert_array_equal(without_site(x, "games.example.com"), x)  # not visited


def test_split_members_disjoint_sizes_deterministic():
    s = split_members(100, 30, 20, 10, random_state=0)
    assert (len(s.members), len(s.non_members), len(s.attacker)) == (30, 20, 10)
    allidx = np.concatenate([s.members, s.non_members, s.attacker])
    assert len(np.unique(allidx)) == 60 and allidx.min() >= 0 and allidx.max() < 100
    for part in (s.members, s.non_members, s.attacker):
        assert np.all(np.diff(part) > 0)  # sorted, no repeats
    t = split_members(100, 30, 20, 10, random_state=0)
    np.testing.assert_array_equal(s.members, t.members)
    np.testing.assert_array_equal(s.attacker, t.attacker)
    u = split_members(100, 30, 20, 10, random_state=1)
    assert not np.array_equal(s.members, u.members)
    assert len(split_members(5, 2, 3).attacker) == 0


def test_load_patients():
    X, y, names = load_patients()
    assert X.shape == (569, 30) and X.dtype == np.float32
    assert y.shape == (569,) and y.dtype == np.int64 and set(np.unique(y)) == {0, 1}
    assert len(names) == 30
    np.testing.assert_allclose(X.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(X.std(0), 1, atol=1e-4)


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(n_users=0), ValueError, "n_users"),
    (dict(n_users=-3), ValueError, "n_users"),
    (dict(n_users=2.5), TypeError, "n_users"),
    (dict(n_users="10"), TypeError, "n_users"),
    (dict(n_users=True), TypeError, "n_users"),
    (dict(n_users=None), TypeError, "n_users"),
    (dict(n_users=10, shift=-0.1), ValueError, "shift"),
    (dict(n_users=10, shift=float("nan")), ValueError, "shift"),
    (dict(n_users=10, shift="big"), TypeError, "shift"),
])
def test_make_ad_clicks_bad_inputs(kwargs, err, match):
    n = kwargs.pop("n_users")
    with pytest.raises(err, match=match):
        make_ad_clicks(n, **kwargs)


@pytest.mark.parametrize("args, err, match", [
    ((10, 5, 6), ValueError, "n_records"),        # 11 > 10
    ((10, 5, 3, 3), ValueError, "n_records"),
    ((0, 1, 1), ValueError, "n_records"),
    ((10, 0, 3), ValueError, "n_members"),
    ((10, 3, 0), ValueError, "n_non_members"),
    ((10, 3, 3, -1), ValueError, "n_attacker"),
    ((10, 3.0, 3), TypeError, "n_members"),
    ((10.5, 3, 3), TypeError, "n_records"),
])
def test_split_members_bad_inputs(args, err, match):
    with pytest.raises(err, match=match):
        split_members(*args)


@pytest.mark.parametrize("x, site, match", [
    (np.zeros(5), RARE_DISEASE_SITE, "x"),
    (np.zeros((2, len(site_names()))), RARE_DISEASE_SITE, "x"),
    (None, RARE_DISEASE_SITE, "x"),
    (np.zeros(len(site_names())), "nowhere.example.com", "site_name"),
])
def test_without_site_bad_inputs(x, site, match):
    with pytest.raises(ValueError, match=match):
        without_site(x, site)


def test_site_index_unknown(ad):
    with pytest.raises(ValueError, match="site_name"):
        ad.site_index("nowhere.example.com")
