"""Tracking: inference shards (:mod:`ethoflow.tracking.infer`, the only torch part), the identity
tracker (:mod:`ethoflow.tracking.identity`) and the classical baseline
(:mod:`ethoflow.tracking.classical`).

This package's ``__init__`` imports nothing, so the torch-free modules run in the ``base``
conda environment, which has no torch.
"""
