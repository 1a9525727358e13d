"""Behaviour: what each animal is doing, from track tables or keypoints.

``features``
    per-animal, per-frame features (speed, heading, body shape, pairwise distances, overlap,
    facing) and their window statistics, from a track table (masks) or a keypoint table (pose).
``labels``
    behaviour labels from the files labs have (BORIS, Bento, SimBA, per-frame and bout CSVs, read
    by ``ethoflow.io``) -> one frame label table; raters, majority vote, agreement.
``dataset``, ``tcn``, ``trees``
    sequences for the classifiers; a multi-stage temporal convolutional network (torch, the only
    module here that imports it) and a tree baseline on the same features.
``evaluate``
    per-frame and bout-level scores, confusion matrices, block cross-validation.
``bouts``
    per-frame predictions -> bouts, time budgets, latencies.
``motifs``
    unsupervised motifs: window features -> UMAP -> HDBSCAN -> a classifier over every frame.

This ``__init__`` imports nothing: the torch-free modules run in the ``base`` environment.
"""
