"""Evaluation: MOT, HOTA and identity metrics, COCO AP, per-video parts, truth matching, summary."""
