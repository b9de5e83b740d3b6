"""A small character-level language model: a one-layer GRU that predicts the next character.

Introduced in notebooks/15_language_models.ipynb.

``CharLanguageModel`` follows scikit-learn's conventions (fit returns self, NotFittedError) and
gives each text its log-likelihood, the log-probability of all its characters and of its end
(``log_likelihood``, ``token_log_probs``); ``continuation_log_likelihood`` ranks thousands of
candidate endings of one prefix at once (the exposure of a secret).
"""
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Self

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from mia_course._validation import check_int, check_real
from mia_course.nets import seed_from, torch_threads
from mia_course.hints import RandomStateLike

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 .,?!'-:/€"
BOS, EOS = len(ALPHABET), len(ALPHABET) + 1  # start and end of a message
N_TOKENS = len(ALPHABET) + 2


def encode(texts: Sequence[str]) -> tuple[torch.Tensor, np.ndarray]:
    """Token ids (BOS, characters, EOS) of each text, padded with EOS: ``(ids, lengths)`` where
    ``lengths`` counts the predicted tokens (characters + EOS). Introduced in
    notebooks/15_language_models.ipynb."""
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts: expected a list of strings")
    if len(texts) == 0:
        raise ValueError("texts: expected at least one text")
    index = {c: i for i, c in enumerate(ALPHABET)}
    bad = {c for t in texts for c in t if c not in index}
    if bad:
        raise ValueError(f"texts: characters outside the model's alphabet: {''.join(sorted(bad))!r}")
    lengths = np.array([len(t) + 1 for t in texts])
    ids = np.full((len(texts), lengths.max() + 1), EOS, dtype=np.int64)
    ids[:, 0] = BOS
    for row, t in enumerate(texts):
        ids[row, 1:len(t) + 1] = [index[c] for c in t]
    return torch.from_numpy(ids), lengths


class _GRUNet(torch.nn.Module):
    def __init__(self, hidden_size: int, embedding_size: int) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(N_TOKENS, embedding_size)
        self.gru = torch.nn.GRU(embedding_size, hidden_size, batch_first=True)
        self.out = torch.nn.Linear(hidden_size, N_TOKENS)

    def forward(self, ids: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, state = self.gru(self.embed(ids), state)
        return torch.log_softmax(self.out(hidden), dim=-1), state


class CharLanguageModel(BaseEstimator):
    """A one-layer GRU that predicts the next character, trained with Adam on cross-entropy.

    Introduced in notebooks/15_language_models.ipynb.
    """

    def __init__(self, hidden_size: int = 96, embedding_size: int = 32, epochs: int = 8, lr: float = 1e-2,
                 batch_size: int = 64, random_state: RandomStateLike = None, n_threads: int | None = 1) -> None:
        self.hidden_size = hidden_size
        self.embedding_size = embedding_size
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.random_state = random_state
        self.n_threads = n_threads

    def fit(self, texts: Sequence[str], progress: Callable[..., Any] | None = None) -> Self:
        """Train on ``texts`` (a list of str). ``progress``: an optional tqdm-like bar class."""
        run = self._start(texts)
        bar = progress(total=run["steps"]) if progress else None
        self._train(run, bar.update if bar else lambda n: None)
        if bar:
            bar.close()
        return self

    def _start(self, texts):
        """Check the parameters and draw the initial weights (torch's global generator, seeded
        from ``random_state``); ``_train`` then needs no randomness but ``run["rng"]``'s."""
        check_int(self.hidden_size, "hidden_size", minimum=1)
        check_int(self.embedding_size, "embedding_size", minimum=1)
        epochs = check_int(self.epochs, "epochs", minimum=1)
        lr = check_real(self.lr, "lr", minimum=0.0, strict_min=True)
        batch_size = check_int(self.batch_size, "batch_size", minimum=1)
        ids, lengths = encode(texts)
        rng = np.random.RandomState(seed_from(self.random_state))
        with torch_threads(self.n_threads):
            torch.manual_seed(rng.randint(2**31 - 1))
            self.net_ = _GRUNet(self.hidden_size, self.embedding_size)
        order_by_length = np.argsort(lengths, kind="stable")
        batches = [order_by_length[i:i + batch_size] for i in range(0, len(texts), batch_size)]
        return {"ids": ids, "lengths": lengths, "rng": rng, "lr": lr, "epochs": epochs, "batches": batches,
                "steps": epochs * len(batches)}

    def _train(self, run, update):
        ids, lengths, rng, batches = run["ids"], run["lengths"], run["rng"], run["batches"]
        with torch_threads(self.n_threads):
            opt = torch.optim.Adam(self.net_.parameters(), lr=run["lr"])
            self.loss_curve_ = []
            for epoch in range(run["epochs"]):
                total = 0.0
                for b in rng.permutation(len(batches)):
                    rows = batches[b]
                    width = lengths[rows].max()
                    x, y = ids[rows, :width], ids[rows, 1:width + 1]
                    mask = torch.from_numpy(np.arange(width)[None, :] < lengths[rows][:, None])
                    logp, _ = self.net_(x)
                    nll = -logp.gather(2, y.unsqueeze(2)).squeeze(2)
                    loss = (nll * mask).sum() / mask.sum()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(rows)
                    update(1)
                self.loss_curve_.append(total / len(lengths))
        self.net_.eval()

    def token_log_probs(self, texts: Sequence[str], batch_size: int = 256) -> list[np.ndarray]:
        """Per text, the natural-log probability of each predicted token (its characters, then
        the end of the message): a list of 1-D numpy arrays. Texts of similar length are
        scored together, in batches of ``batch_size``, without gradients."""
        check_is_fitted(self, "net_")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        ids, lengths = encode(texts)
        out = [None] * len(texts)
        order = np.argsort(lengths, kind="stable")
        with torch_threads(self.n_threads), torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                rows = order[start:start + batch_size]
                width = lengths[rows].max()
                x = ids[rows, :width + 1]
                logp, _ = self.net_(x[:, :-1])
                lp = logp.gather(2, x[:, 1:].unsqueeze(2)).squeeze(2).numpy().astype(np.float64)
                for i, row in enumerate(rows):
                    out[row] = lp[i, :lengths[row]]
        return out

    def log_likelihood(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """The natural-log probability of each whole text under the model (a numpy array)."""
        return np.array([lp.sum() for lp in self.token_log_probs(texts, batch_size)])

    def continuation_log_likelihood(self, prefix: str | Sequence[str], continuations: Iterable[str], *,
                                    end: bool = True) -> np.ndarray:
        """The log-probability of ``prefix + c`` for each ``c`` in ``continuations``, computed
        once per distinct partial continuation (a trie): ranking 10,000 candidate secrets costs
        about as much as scoring 300 whole texts. With ``end=True`` it equals ``log_likelihood``
        of the full texts; ``end=False`` leaves out the end of the message (the log-probability
        of the prefix and of the continuation's characters only), which spares the costliest
        step, one per candidate. ``prefix``: one str (returns one score per continuation), or a
        list of prefixes scored together in batches (returns an array of shape
        ``(len(prefix), len(continuations))``)."""
        check_is_fitted(self, "net_")
        single = isinstance(prefix, str)
        prefixes = [prefix] if single else list(prefix)
        if not prefixes or not all(isinstance(p, str) for p in prefixes):
            raise TypeError("prefix: expected a str or a non-empty list of str")
        if not isinstance(end, bool):
            raise TypeError(f"end: expected True or False, got {end!r}")
        continuations = list(continuations)
        encode(continuations)  # checks the continuations' type and alphabet
        pids, plens = encode(prefixes)
        cids, clens = encode(continuations)
        cids = cids[:, 1:].numpy()  # the continuations' tokens, without BOS (EOS after each one)
        n_steps = clens if end else clens - 1  # tokens to score per continuation
        depth = int(n_steps.max())
        # distinct partial continuations at each depth: the largest trie level bounds the batch
        widest = max([len(np.unique(cids[:, :t], axis=0)) for t in range(1, depth)] + [1])
        chunk = max(1, 200_000 // widest)
        out = np.empty((len(prefixes), len(continuations)))
        net = self.net_
        with torch_threads(self.n_threads), torch.inference_mode():
            for lo in range(0, len(prefixes), chunk):
                rows = np.arange(lo, min(lo + chunk, len(prefixes)))
                width = int(plens[rows].max())  # BOS and the longest prefix's characters
                hidden, _ = net.gru(net.embed(pids[rows, :width]))
                logp = torch.log_softmax(net.out(hidden), dim=-1)
                mask = torch.from_numpy(np.arange(width - 1)[None, :] < plens[rows, None] - 1)
                taken = logp[:, :-1].gather(2, pids[rows, 1:width].unsqueeze(2)).squeeze(2)
                total = (taken * mask).sum(1).double().numpy()  # each prefix's log-probability
                last = torch.from_numpy(plens[rows] - 1)  # the position of each prefix's last token
                state = hidden[torch.arange(len(rows)), last]  # (prefixes, hidden)
                logp = logp[torch.arange(len(rows)), last].double().numpy()[:, None, :]  # (P, nodes, tokens)
                scores = np.repeat(total[:, None], len(continuations), axis=1)
                node = np.zeros(len(continuations), dtype=np.int64)
                for t in range(depth):
                    token, active = cids[:, t], t < n_steps
                    scores += np.where(active, logp[:, node, token], 0.0)
                    if t == depth - 1:
                        break
                    keys, node = np.unique(node * N_TOKENS + token, return_inverse=True)
                    parent = torch.from_numpy(keys // N_TOKENS)
                    step_in = torch.from_numpy(keys % N_TOKENS).repeat(len(rows))
                    h = state.reshape(len(rows), -1, state.shape[-1])[:, parent].reshape(-1, state.shape[-1])
                    step, _ = net.gru(net.embed(step_in)[:, None], h[None].contiguous())
                    state = step[:, 0]
                    logp = torch.log_softmax(net.out(state), dim=-1).double().numpy().reshape(
                        len(rows), len(keys), N_TOKENS)
                out[rows] = scores
        return out[0] if single else out


def fit_together(models: Sequence[CharLanguageModel], texts: Sequence[Sequence[str]],
                 progress: Callable[..., Any] | None = None, n_jobs: int | None = None) -> list[CharLanguageModel]:
    """Fit ``models[i]`` on ``texts[i]`` for each i, ``n_jobs`` trainings at a time in threads
    (default: all of them; the operating system shares the cores among them), and return the
    fitted models. The models are independent, and torch leaves Python's lock while it
    computes, so two single-threaded trainings use two CPU cores at once. The fitted models are
    the same as each ``model.fit(texts)`` alone: each model's initial weights are drawn in turn
    before any training starts, and a training uses no other randomness than its own
    ``random_state``'s. ``progress``: an optional tqdm-like bar class (one bar for all the
    optimizer steps). Introduced in notebooks/15_language_models.ipynb."""
    models = list(models)
    if not models or not all(isinstance(m, CharLanguageModel) for m in models):
        raise TypeError("models: expected a non-empty list of CharLanguageModel")
    if isinstance(texts, str) or len(texts) != len(models):
        raise ValueError(f"texts: expected one list of texts per model ({len(models)})")
    n_jobs = len(models) if n_jobs is None else check_int(n_jobs, "n_jobs", minimum=1)
    runs = [m._start(t) for m, t in zip(models, texts)]  # in turn: the weights each fit() alone draws
    done = [0] * len(models)  # each training counts its own steps; this thread moves the bar

    def train(i: int) -> None:
        def update(n: int) -> None:
            done[i] += n
        models[i]._train(runs[i], update)

    bar = progress(total=sum(r["steps"] for r in runs)) if progress else None
    longest_first = sorted(range(len(models)), key=lambda i: -runs[i]["steps"])
    with ThreadPoolExecutor(n_jobs) as pool:
        futures = [pool.submit(train, i) for i in longest_first]
        while wait(futures, timeout=0.25).not_done:
            if bar:
                bar.update(sum(done) - bar.n)
    for future in futures:
        future.result()  # a training's exception, if any
    if bar:
        bar.update(sum(done) - bar.n)
        bar.close()
    return models
