"""Mostly-zero rows for the first layer of stacked DP-SGD: products that skip the zeros.

Introduced in notebooks/12_auditing_with_canaries.ipynb.

Lesson 12's input canaries each have a column of their own: 750 rows by 560 columns, half a
percent of them non-zero. The first layer's two products per step (the forward pass, and the
clipped sum of per-example gradients ``A^T (s * D)``) then spend nearly all their time
multiplying zeros. ``SparseRows`` keeps only the non-zero entries of ``X``; ``take(order)``
gathers one step's batches as one sparse matrix of every model's rows against every model's
weights (block diagonal), so each product is one sparse-dense matrix product. The dense path
stays for dense data (the lessons' other models): ``affine``, ``squared_norms`` and
``transposed_product`` take either kind of batch and pick the product by its exact type.
"""
import torch

__all__ = ["SPARSE_DENSITY", "SparseBatch", "SparseRows", "affine", "squared_norms", "transposed_product"]

SPARSE_DENSITY = 0.05  # below this share of non-zeros, the sparse products are the faster ones


class SparseBatch:
    """One step's batches ``X[order]`` (``order``: ``[n_models, width]``) of a ``SparseRows``:
    a sparse ``[n_models * width, n_models * n_features]`` matrix and each row's squared norm."""

    def __init__(self, matrix: torch.Tensor, sq_norms: torch.Tensor, shape: tuple[int, int, int]) -> None:
        self.matrix, self.sq_norms, self.shape = matrix, sq_norms, shape


class SparseRows:
    """The non-zero entries of a 2-D tensor ``X``, row by row (see the module's docstring)."""

    def __init__(self, X: torch.Tensor) -> None:
        rows, cols = X.nonzero(as_tuple=True)  # row-major order: sorted by row, then column
        self.n_rows, self.n_features = X.shape
        self.cols, self.values = cols, X[rows, cols]
        self.counts = torch.bincount(rows, minlength=self.n_rows)
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        self.sq_norms = (X * X).sum(dim=1)

    @classmethod
    def if_sparse(cls, X: torch.Tensor) -> "SparseRows | None":
        """``SparseRows(X)`` when under ``SPARSE_DENSITY`` of ``X`` is non-zero, else None."""
        return cls(X) if X.numel() and float((X != 0).float().mean()) < SPARSE_DENSITY else None

    def take(self, order: torch.Tensor) -> SparseBatch:
        """The batches ``X[order]`` as one block-diagonal sparse matrix."""
        n_models, width = order.shape
        counts = self.counts[order].flatten()
        batch_row = torch.repeat_interleave(torch.arange(n_models * width), counts)
        first = torch.cumsum(counts, 0) - counts  # where each batch row's entries start
        k = torch.repeat_interleave(self.starts[order].flatten() - first, counts) + torch.arange(int(counts.sum()))
        cols = self.cols[k] + torch.div(batch_row, width, rounding_mode="floor") * self.n_features
        matrix = torch.sparse_coo_tensor(torch.stack([batch_row, cols]), self.values[k],
                                         (n_models * width, n_models * self.n_features), is_coalesced=True,
                                         check_invariants=False)
        return SparseBatch(matrix, self.sq_norms[order], (n_models, width, self.n_features))


def affine(b: torch.Tensor, a: "torch.Tensor | SparseBatch", W: torch.Tensor) -> torch.Tensor:
    """``b + a @ W`` per model (``a``: ``[n_models, batch, fan_in]``, dense or sparse)."""
    if type(a) is SparseBatch:
        n_models, width, fan_in = a.shape
        return torch.sparse.mm(a.matrix, W.reshape(n_models * fan_in, -1)).reshape(n_models, width, -1) + b
    return torch.baddbmm(b, a, W)


def squared_norms(a: "torch.Tensor | SparseBatch") -> torch.Tensor:
    """Each row's squared norm, ``[n_models, batch]``."""
    return a.sq_norms if type(a) is SparseBatch else (a * a).sum(-1)


def transposed_product(a: "torch.Tensor | SparseBatch", d: torch.Tensor, scale: torch.Tensor | None = None
                       ) -> torch.Tensor:
    """``a^T d`` per model, ``[n_models, fan_in, fan_out]``; with ``scale`` (``[n_models,
    batch]``), ``sum_i scale_i a_i d_i^T``, scaling whichever of ``a`` and ``d`` is smaller."""
    if type(a) is SparseBatch:
        n_models, width, fan_in = a.shape
        matrix = a.matrix
        if scale is not None:
            rows, _ = matrix.indices()
            matrix = torch.sparse_coo_tensor(matrix.indices(), matrix.values() * scale.reshape(-1)[rows],
                                             matrix.shape, is_coalesced=True, check_invariants=False)
        return torch.sparse.mm(matrix.t(), d.reshape(n_models * width, -1)).reshape(n_models, fan_in, -1)
    if scale is not None and a.shape[-1] <= d.shape[-1]:
        a = a * scale[..., None]
    elif scale is not None:
        d = d * scale[..., None]
    return torch.bmm(a.transpose(1, 2), d)
