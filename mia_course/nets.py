"""The course's network and the torch plumbing every trainer shares.

Introduced in notebooks/01_alice_and_the_ad_model.ipynb (through ``TorchMLPClassifier``).

``build_mlp`` is the architecture of every MLP in the course: the single model
(``mia_course.models``), the private one (``mia_course.defenses.dp_models``) and the many
models trained at once (``mia_course.training``) all build it, so model ``k`` of a batch
starts from exactly the weights a single fit with the same seed would. ``seed_from`` turns
scikit-learn's ``random_state`` into a torch seed; ``torch_threads`` runs a block with a
chosen number of CPU threads.
"""
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from sklearn.utils import check_random_state

from mia_course.hints import RandomStateLike


def build_mlp(n_features: int, hidden_sizes: Sequence[int], n_classes: int,
              dropout: float = 0.0) -> torch.nn.Sequential:
    """Linear -> ReLU (-> Dropout) blocks, then a linear layer to class logits.

    Introduced in notebooks/01_alice_and_the_ad_model.ipynb."""
    layers, width = [], n_features
    for h in hidden_sizes:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        if dropout > 0:
            layers.append(torch.nn.Dropout(dropout))
        width = h
    layers.append(torch.nn.Linear(width, n_classes))
    return torch.nn.Sequential(*layers)


def seed_from(random_state: RandomStateLike) -> int:
    """An int seed from ``None``, an int or a ``numpy`` RandomState (sklearn convention).

    Introduced in notebooks/01_alice_and_the_ad_model.ipynb."""
    return int(check_random_state(random_state).randint(2**31 - 1))


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (None: leave as is), then restore.

    Introduced in notebooks/01_alice_and_the_ad_model.ipynb."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class BestEpoch:
    """Early stopping for one torch model: after each epoch, ``stop()`` measures the loss on the
    validation rows, keeps the weights of the best epoch so far and says whether ``patience``
    epochs have passed without a better one; ``restore()`` puts the best weights back. Without
    validation rows (``X_val`` None) it never stops and restores nothing.

    Introduced in notebooks/08_regularization_and_data.ipynb."""

    def __init__(self, net: torch.nn.Module, X_val: torch.Tensor | None, y_val: torch.Tensor | None,
                 loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], patience: int) -> None:
        self.net, self.X_val, self.y_val, self.loss_fn, self.patience = net, X_val, y_val, loss_fn, patience
        self.best, self.best_state, self.waited = float("inf"), None, 0

    def stop(self) -> bool:
        if self.X_val is None:
            return False
        self.net.eval()
        with torch.no_grad():
            val = float(self.loss_fn(self.net(self.X_val), self.y_val))
        if val < self.best:
            self.best, self.waited = val, 0
            self.best_state = {k: v.clone() for k, v in self.net.state_dict().items()}
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore(self) -> None:
        if self.best_state is not None:
            self.net.load_state_dict(self.best_state)  # the epoch with the lowest validation loss
