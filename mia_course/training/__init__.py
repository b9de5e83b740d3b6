"""Many models at once: what LiRA, RMIA and the audits need (tens of shadow models).

Introduced in notebooks/04_lira_and_rmia.ipynb.

- ``registry``: ``train_shadow_models``, the registry of fast trainers keyed by the
  estimator's exact type, and the seeded-clone loop every other estimator goes through.
- ``stacked``: the maths of stacked MLPs (batched forward, written-out backpropagation) and
  the batched Adam.
- ``mlp``: ``BatchedMLP``, many ``TorchMLPClassifier``s as one model.
- ``dp_stacked``: ``BatchedDPMLP``, many ``DPMLPClassifier``s trained with DP-SGD as one model.

The estimators' modules register their trainers, so this package imports no model and no
defense.
"""
