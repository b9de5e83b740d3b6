"""Defenses against membership inference, each measured by what it costs in accuracy.

Introduced in notebooks/08_regularization_and_data.ipynb and the lessons after it:
regularization lives in ``TorchMLPClassifier``'s own parameters; differential privacy in
``dp_sgd`` (from scratch, for the lesson) and ``dp_models`` (Opacus; its many-at-once
trainer is ``mia_course.training.dp_stacked``); output perturbation in ``outputs``.
"""
from mia_course.defenses.outputs import LabelOnlyOutputs, NoisyOutputs, RoundedOutputs

__all__ = ["LabelOnlyOutputs", "NoisyOutputs", "RoundedOutputs"]
