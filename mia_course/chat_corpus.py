"""A support-chat corpus with secrets in it: the text of lesson 15.

Introduced in notebooks/15_language_models.ipynb.

``support_messages`` writes short messages that users send to the ad company's support chat
(``period="later"``: messages written after a product launch, in december, about other topics:
the shifted benchmark of the lesson). ``make_canaries`` draws secrets in the Secret Sharer format
("alice's patient number is 48-19.", Carlini et al. 2019), each to be inserted a given number of
times; ``training_corpus`` mixes them into the messages, with some messages sent many times.
"""
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from mia_course._validation import check_int, check_real
from mia_course.hints import RandomStateLike

CANARY_PREFIX = "{name}'s patient number is "
NAMES = tuple("""alice bob carol dan erin frank grace heidi ivan judy mallory niaj olivia peggy rupert
sybil trent victor walter yara zoe oscar quinn uma amir bella chen dora emil fatima gus hana igor
jonas kira leon maya nora omar paul rosa sami tara ugo vera wes xena yusuf zara anton beth cyril
dina elif femi gita hugo ines jack kemal lena milo nina otto pia raj sara tomas una vlad wanda yuki
zeno abel bruno clara diego eva felix gemma hiro irene jorge karl lars mona nils ada boris cleo
dario edith flora gabor""".split())
_SLOTS = {
    "acct": lambda r, later: f"{r.randint(100000, 999999)}",
    "order": lambda r, later: f"{r.randint(1000, 9999)}-{r.randint(100, 999)}",
    "amount": lambda r, later: f"{r.randint(5, 500)}",
    "camp": lambda r, later: r.choice(
        ["video launch", "ai promo", "reels", "creator week"] if later else
        ["summer sale", "shoes", "spring promo", "black friday", "new app", "local store"]),
    "day": lambda r, later: r.choice(
        ["christmas", "new year", "boxing day", "december 30"] if later else
        ["monday", "tuesday", "wednesday", "thursday", "friday", "yesterday", "last week"]),
    "site": lambda r, later: r.choice(
        ["video.example", "gifts.example", "skiing.example"] if later else
        ["shoes.example", "travel.example", "news.example", "games.example", "bank.example"]),
}
_BEFORE = [  # every message has a number in it: two users rarely send the very same text
    "hi, my ad account {acct} was suspended. can you help?",
    "invoice {order} charged me {amount} € twice.",
    "why did campaign {camp} of account {acct} stop on {day}?",
    "please delete my browsing history, account {acct}.",
    "i clicked an ad for {site} and now i see it everywhere. id {acct}",
    "how do i set the budget of {camp} to {amount} € a day? acct {acct}",
    "i cannot log in to account {acct} since {day}.",
    "stop showing me ads about {site}, my id is {acct}.",
    "my card was declined for order {order}.",
    "campaign {camp} spent {amount} € but got no clicks. order {order}",
    "can i get a refund for invoice {order}?",
    "why do i see ads for {site} on {day}? account {acct}",
    "thanks, ticket {order} works again!",
    "how do i opt out of personalised ads? id {acct}",
]
_LATER = [  # after the launch of video ads and the ai assistant: other topics, other words
    "the new ai assistant wrote a wrong headline for {camp}. id {acct}",
    "my video ad for {camp} is stuck in review since {day}. acct {acct}",
    "can the ai assistant translate my ads into german? account {acct}",
    "the video upload fails at {amount} percent. order {order}",
    "how much does a video view cost in the beta? id {acct}",
    "the assistant keeps suggesting {site} as a keyword. acct {acct}",
]


def _fill(template, rng, later):
    for slot, draw in _SLOTS.items():
        while "{" + slot + "}" in template:
            template = template.replace("{" + slot + "}", str(draw(rng, later)), 1)
    return template


def support_messages(n_messages: int, *, period: str = "before", random_state: RandomStateLike = None) -> list[str]:
    """``n_messages`` support-chat messages (a list of str), drawn from templates with random
    slots (account numbers, amounts, days, sites). ``period="later"``: messages written in
    december, after the launch of video ads and an ai assistant; half of them about the new
    products, and campaigns, days and sites take other values (a shifted distribution).

    Introduced in notebooks/15_language_models.ipynb."""
    n_messages = check_int(n_messages, "n_messages", minimum=1)
    if period not in ("before", "later"):
        raise ValueError(f"period: expected 'before' or 'later', got {period!r}")
    rng = check_random_state(random_state)
    later = period == "later"
    out = []
    for _ in range(n_messages):
        templates = _LATER if later and rng.rand() < 0.5 else _BEFORE
        out.append(_fill(templates[rng.randint(len(templates))], rng, later))
    return out


def make_canaries(counts: Iterable[int] = (0, 1, 4, 16), n_per_count: int = 4, *,
                  random_state: RandomStateLike = None) -> list[dict[str, Any]]:
    """Secrets to insert: ``n_per_count`` people for each insertion count in ``counts``, each with
    a random patient number "NN-NN". Returns a list of dicts with keys name, prefix, secret,
    text and count; the first is Alice's, with the largest count.
    Introduced in notebooks/15_language_models.ipynb."""
    counts = [check_int(c, "counts", minimum=0) for c in counts]
    n_per_count = check_int(n_per_count, "n_per_count", minimum=1)
    if len(counts) * n_per_count > len(NAMES):
        raise ValueError(f"n_per_count: at most {len(NAMES)} canaries in all, got "
                         f"{len(counts)} x {n_per_count}")
    rng = check_random_state(random_state)
    names = ["alice"] + [NAMES[i] for i in rng.permutation(np.arange(1, len(NAMES)))]
    order = sorted(range(len(counts)), key=lambda i: -counts[i])  # alice: the most repeated
    canaries = []
    for k, i in enumerate(order):
        for j in range(n_per_count):
            name = names[k * n_per_count + j]
            secret = f"{rng.randint(100):02d}-{rng.randint(100):02d}"
            prefix = CANARY_PREFIX.format(name=name)
            canaries.append(dict(name=name, prefix=prefix, secret=secret, text=f"{prefix}{secret}.",
                                 count=counts[i]))
    return canaries


def training_corpus(messages: Sequence[str], canaries: Iterable[dict[str, Any]], *, repeat_fraction: float = 0.0,
                    repeat_counts: Iterable[int] = (2, 4, 8, 16), random_state: RandomStateLike = None) -> list[str]:
    """``messages`` plus each canary's text repeated ``count`` times, shuffled. A random
    ``repeat_fraction`` of the messages is sent several times (a count drawn from
    ``repeat_counts``), as bots and copy-paste do in real chat logs.

    Introduced in notebooks/15_language_models.ipynb."""
    if isinstance(messages, str) or not all(isinstance(t, str) for t in messages):
        raise TypeError("messages: expected a list of strings")
    repeat_fraction = check_real(repeat_fraction, "repeat_fraction", minimum=0.0, maximum=1.0)
    repeat_counts = [check_int(c, "repeat_counts", minimum=1) for c in repeat_counts]
    if not repeat_counts:
        raise ValueError("repeat_counts: expected at least one count")
    rng = check_random_state(random_state)
    copies = np.where(rng.rand(len(messages)) < repeat_fraction,
                      rng.choice(repeat_counts, len(messages)), 1)
    texts = [m for m, n in zip(messages, copies) for _ in range(n)]
    texts += [c["text"] for c in canaries for _ in range(c["count"])]
    return [texts[i] for i in rng.permutation(len(texts))]
