"""Evaluation: how good are the tracks and the detections.

Modules (import them directly; this package imports nothing):

- :mod:`ethoflow.evaluation.mot`: pairing predictions with truth frame by frame (mask IoU or gated
  centroid distance), CLEAR-MOT/ID metrics (motmetrics), HOTA, identity accuracy and
  :func:`~ethoflow.evaluation.mot.evaluate_tracks`, all of them at once.
- :mod:`ethoflow.evaluation.coco`: COCO bbox/segm mean average precision (pycocotools).
- :mod:`ethoflow.evaluation.video`: one video's metrics over all its truth frames and over its
  labelled, unlabelled and touching frames apart.
- :mod:`ethoflow.evaluation.truth`: per frame and identity, whether a prediction covers its truth
  (the report's identity timelines).
- :mod:`ethoflow.evaluation.summary`: the summary table, one row per tracker x video.
"""
