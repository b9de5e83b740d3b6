"""Lesson 15: the support-chat corpus, the character-level language model and its attacks,
each against a slow obvious reference."""
import math
import zlib
from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from mia_course.chat_corpus import make_canaries, support_messages, training_corpus
from mia_course.language import ALPHABET, BOS, EOS, CharLanguageModel, encode, fit_together
from mia_course.language_attacks import (blind_scores, canary_exposures, deduplicate, exposure,
                                         loss_scores, min_k_scores, patient_numbers,
                                         reference_scores, secret_rank, sequence_attacks,
                                         zlib_scores)
from mia_course.metrics import roc_auc


@pytest.fixture(scope="module")
def tiny():
    texts = support_messages(120, random_state=0) + ["alice's patient number is 12-34."] * 40
    return CharLanguageModel(hidden_size=24, embedding_size=8, epochs=3, random_state=0).fit(texts)


def slow_log_likelihood(model, text):
    """Feed the characters one at a time and add up log softmax of the next one."""
    net, index = model.net_, {c: i for i, c in enumerate(ALPHABET)}
    tokens, state, total = [BOS] + [index[c] for c in text] + [EOS], None, 0.0
    with torch.no_grad():
        for now, nxt in zip(tokens[:-1], tokens[1:]):
            h, state = net.gru(net.embed(torch.tensor([[now]])), state)
            logits = net.out(h)[0, 0].double()
            total += float(logits[nxt] - torch.logsumexp(logits, 0))
    return total


# ---- the corpus -------------------------------------------------------------------------------
def test_generator_is_deterministic_and_writes_in_the_alphabet():
    a, b = support_messages(300, random_state=3), support_messages(300, random_state=3)
    assert a == b and a != support_messages(300, random_state=4)
    later = support_messages(300, period="later", random_state=3)
    assert later != a and len(set(a)) > 295  # numbers make messages (almost) unique
    assert set("".join(a + later)) <= set(ALPHABET)
    assert not any(w in " ".join(a) for w in ("video", "assistant", "christmas"))
    assert sum("video" in t or "assistant" in t for t in later) > 100


def test_canaries_and_corpus():
    canaries = make_canaries(counts=(0, 1, 4, 16), n_per_count=3, random_state=1)
    assert canaries == make_canaries(counts=(0, 1, 4, 16), n_per_count=3, random_state=1)
    assert canaries[0]["name"] == "alice" and canaries[0]["count"] == 16
    assert sorted(Counter(c["count"] for c in canaries).items()) == [(0, 3), (1, 3), (4, 3), (16, 3)]
    assert len({c["name"] for c in canaries}) == 12
    for c in canaries:
        assert c["text"] == f"{c['name']}'s patient number is {c['secret']}."
        assert c["secret"] in patient_numbers()
    messages = support_messages(400, random_state=0)
    corpus = training_corpus(messages, canaries, repeat_fraction=0.2, random_state=0)
    assert corpus == training_corpus(messages, canaries, repeat_fraction=0.2, random_state=0)
    copies = Counter(corpus)
    assert all(copies[c["text"]] == c["count"] for c in canaries)
    repeated = [copies[m] for m in messages if copies[m] > 1]
    assert 50 < len(repeated) < 110 and set(repeated) <= {2, 4, 8, 16}
    assert set(deduplicate(corpus)) == set(corpus) and len(deduplicate(corpus)) == len(set(corpus))
    assert deduplicate(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


# ---- the model -------------------------------------------------------------------------------
def test_log_likelihood_matches_a_token_by_token_loop(tiny):
    texts = ["", "hi", "invoice 1234-567 charged me 12 € twice on monday.",
             "alice's patient number is 12-34."]
    fast = tiny.log_likelihood(texts, batch_size=3)
    assert np.allclose(fast, [slow_log_likelihood(tiny, t) for t in texts], atol=1e-4)
    per_token = tiny.token_log_probs(texts)
    assert [len(p) for p in per_token] == [len(t) + 1 for t in texts]
    assert np.allclose([p.sum() for p in per_token], fast)


def test_continuation_scores_equal_whole_text_scores(tiny):
    conts = [c + "." for c in patient_numbers()[::37]] + ["", "x"]
    for prefix in ("alice's patient number is ", ""):
        fast = tiny.continuation_log_likelihood(prefix, conts)
        assert np.allclose(fast, tiny.log_likelihood([prefix + c for c in conts]), atol=1e-4)


def test_batched_prefixes_and_end_false_equal_whole_text_scores(tiny):
    conts = [c for c in patient_numbers()[::53]] + ["", "x", "12-34."]
    prefixes = ["alice's patient number is ", "", "bob's patient number is ", "x"]
    grid = tiny.continuation_log_likelihood(prefixes, conts)
    assert grid.shape == (len(prefixes), len(conts))
    for row, prefix in zip(grid, prefixes):
        assert np.allclose(row, tiny.log_likelihood([prefix + c for c in conts]), atol=1e-4)
        assert np.allclose(row, tiny.continuation_log_likelihood(prefix, conts), atol=1e-5)
    no_end = tiny.continuation_log_likelihood(prefixes, conts, end=False)
    for row, prefix in zip(no_end, prefixes):  # the same texts without the end-of-message token
        assert np.allclose(row, [lp[:-1].sum() for lp in tiny.token_log_probs([prefix + c for c in conts])],
                           atol=1e-4)
    with pytest.raises(TypeError, match="prefix"):
        tiny.continuation_log_likelihood([], conts)
    with pytest.raises(TypeError, match="end"):
        tiny.continuation_log_likelihood("a", conts, end=1)


def test_canary_exposures_rank_the_secret_after_its_prefix(tiny):
    canaries = [dict(prefix=p, secret=s) for p, s in [("alice's patient number is ", "12-34"),
                                                    ("bob's patient number is ", "77-01"), ("", "00-00")]]
    numbers = patient_numbers()
    slow = [exposure(secret_rank([lp[:-1].sum() for lp in tiny.token_log_probs([c["prefix"] + n for n in numbers])],
                                 numbers.index(c["secret"])), len(numbers)) for c in canaries]
    assert np.allclose(canary_exposures(tiny, canaries), slow, atol=0.05)


def test_training_is_reproducible_and_learns(tiny):
    texts = support_messages(120, random_state=0) + ["alice's patient number is 12-34."] * 40
    again = CharLanguageModel(hidden_size=24, embedding_size=8, epochs=3, random_state=0).fit(texts)
    sample = support_messages(20, random_state=9)
    assert np.array_equal(tiny.log_likelihood(sample), again.log_likelihood(sample))
    assert tiny.loss_curve_[-1] < tiny.loss_curve_[0] < math.log(len(ALPHABET) + 2)
    with pytest.raises(NotFittedError):
        CharLanguageModel().log_likelihood(["hi"])


class CountingBar:
    """A tqdm stand-in that records its total and the steps it was told about."""
    def __init__(self, total):
        self.total, self.n, self.closed = total, 0, False

    def update(self, n):
        self.n += n

    def close(self):
        self.closed = True


def test_fit_together_gives_the_models_each_fit_gives_alone():
    texts = [support_messages(90, random_state=0), support_messages(60, random_state=1),
             support_messages(40, random_state=2)]
    make = lambda: [CharLanguageModel(hidden_size=16, embedding_size=8, epochs=e, batch_size=16, random_state=s)
                    for e, s in [(2, 0), (3, 5), (2, 0)]]
    alone = [m.fit(t) for m, t in zip(make(), texts)]
    bars = []
    together = fit_together(make(), texts, progress=lambda total: bars.append(CountingBar(total)) or bars[-1],
                            n_jobs=2)
    sample = support_messages(10, random_state=9)
    for a, b in zip(alone, together):
        assert a.loss_curve_ == b.loss_curve_
        assert np.array_equal(a.log_likelihood(sample), b.log_likelihood(sample))
        assert all(torch.equal(p, q) for p, q in zip(a.net_.parameters(), b.net_.parameters()))
    steps = 2 * 6 + 3 * 4 + 2 * 3  # epochs x batches of 16, per model
    assert len(bars) == 1 and bars[0].total == steps and bars[0].n == steps and bars[0].closed
    assert not np.array_equal(together[0].log_likelihood(sample), together[1].log_likelihood(sample))


def test_encode_pads_with_the_end_token():
    ids, lengths = encode(["ab", ""])
    assert lengths.tolist() == [3, 1] and ids[:, 0].tolist() == [BOS, BOS]
    assert ids[1, 1:].tolist() == [EOS, EOS, EOS]


# ---- exposure and the attacks -------------------------------------------------------------
def test_exposure_against_a_loop():
    rng = np.random.default_rng(0)
    for n in (1, 7, 1000):
        scores = np.round(rng.normal(size=n), 1)  # ties on purpose
        for i in range(n):
            rank = 1 + sum(scores[j] >= scores[i] for j in range(n) if j != i)
            assert secret_rank(scores, i) == rank
            assert exposure(rank, n) == pytest.approx(math.log2(n) - math.log2(rank))
    assert exposure(1, 10_000) == pytest.approx(math.log2(10_000)) and exposure(10_000, 10_000) == 0
    assert np.allclose(exposure(np.array([1, 2, 4]), 8), [3, 2, 1])


def test_an_inserted_canary_is_more_exposed_than_one_never_seen(tiny):
    inserted = dict(prefix="alice's patient number is ", secret="12-34")
    never = dict(prefix="alice's patient number is ", secret="77-01")
    seen, unseen = canary_exposures(tiny, [inserted, never])
    assert seen > 6 and unseen < seen - 3, (seen, unseen)
    with pytest.raises(ValueError, match="canaries"):
        canary_exposures(tiny, [dict(prefix="x", secret="1-2")])


def test_min_k_against_a_loop():
    rng = np.random.default_rng(1)
    rows = [rng.normal(size=int(n)) for n in rng.integers(1, 40, 30)]
    for k in (0.05, 0.2, 0.5, 1.0):
        slow = []
        for lp in rows:
            n_low = max(1, math.ceil(k * len(lp)))
            slow.append(sum(sorted(lp)[:n_low]) / n_low)
        assert np.allclose(min_k_scores(rows, k), slow)
    assert np.allclose(min_k_scores(rows, 1.0), [r.mean() for r in rows])


def test_sequence_scores_are_their_formulas(tiny):
    texts = support_messages(15, random_state=2)
    ll, n_tokens = tiny.log_likelihood(texts), np.array([len(t) + 1 for t in texts])
    assert np.allclose(loss_scores(tiny, texts), ll / n_tokens)
    assert np.allclose(zlib_scores(tiny, texts), ll / [8 * len(zlib.compress(t.encode())) for t in texts])
    assert np.allclose(reference_scores(tiny, tiny, texts), 0.0)
    other = CharLanguageModel(hidden_size=8, epochs=1, random_state=1).fit(texts)
    together = sequence_attacks(tiny, other, texts, k=0.3)
    assert list(together) == ["loss", "zlib", "Min-K% (k=0.3)", "reference"]
    for got, want in zip(together.values(), [loss_scores(tiny, texts), zlib_scores(tiny, texts),
                                             min_k_scores(tiny.token_log_probs(texts), 0.3),
                                             reference_scores(tiny, other, texts)]):
        assert np.allclose(got, want)


def test_blind_baseline_sees_word_shift_and_nothing_else():
    same = support_messages(600, random_state=0) + support_messages(600, random_state=1)
    y = np.r_[np.ones(600), np.zeros(600)].astype(bool)
    assert abs(roc_auc(y, blind_scores(same, y, random_state=0)) - 0.5) < 0.06
    shifted = support_messages(600, random_state=0) + support_messages(600, period="later", random_state=1)
    assert roc_auc(y, blind_scores(shifted, y, random_state=0)) > 0.85
    assert np.array_equal(blind_scores(shifted, y, random_state=0), blind_scores(shifted, y, random_state=0))


# ---- bad inputs ------------------------------------------------------------------------------
@pytest.mark.parametrize("call,error,match", [
    (lambda: support_messages(0), ValueError, "n_messages"),
    (lambda: support_messages(3, period="soon"), ValueError, "period"),
    (lambda: make_canaries(n_per_count=0), ValueError, "n_per_count"),
    (lambda: make_canaries(n_per_count=30), ValueError, "n_per_count"),
    (lambda: make_canaries(counts=(1, -1)), ValueError, "counts"),
    (lambda: training_corpus("hello", []), TypeError, "messages"),
    (lambda: training_corpus(["a"], [], repeat_fraction=2), ValueError, "repeat_fraction"),
    (lambda: training_corpus(["a"], [], repeat_counts=()), ValueError, "repeat_counts"),
    (lambda: encode("hello"), TypeError, "texts"),
    (lambda: encode([]), ValueError, "texts"),
    (lambda: encode(["HELLO"]), ValueError, "alphabet"),
    (lambda: CharLanguageModel(epochs=0).fit(["a"]), ValueError, "epochs"),
    (lambda: CharLanguageModel(lr="fast").fit(["a"]), TypeError, "lr"),
    (lambda: fit_together([CharLanguageModel(), "model"], [["a"], ["b"]]), TypeError, "models"),
    (lambda: fit_together([CharLanguageModel()], [["a"], ["b"]]), ValueError, "texts"),
    (lambda: fit_together([CharLanguageModel()], [["a"]], n_jobs=0), ValueError, "n_jobs"),
    (lambda: fit_together([CharLanguageModel()], [["HELLO"]]), ValueError, "alphabet"),
    (lambda: exposure(0, 10), ValueError, "rank"),
    (lambda: exposure(11, 10), ValueError, "rank"),
    (lambda: exposure(1, 0), ValueError, "n_candidates"),
    (lambda: secret_rank([1.0, 2.0], 2), ValueError, "secret_index"),
    (lambda: min_k_scores([np.ones(3)], k=0), ValueError, "k"),
    (lambda: min_k_scores(np.ones(3)), TypeError, "token_log_probs"),
    (lambda: loss_scores("model", ["a"]), TypeError, "model"),
    (lambda: reference_scores(None, None, ["a"]), TypeError, "target"),
    (lambda: blind_scores(["a", "b"], [1, 1]), ValueError, "is_member"),
    (lambda: deduplicate("abc"), TypeError, "texts"),
])
def test_bad_inputs_name_the_parameter(call, error, match):
    with pytest.raises(error, match=match):
        call()
