"""The embedded demo: synthetic arena videos with exact ground truth and LabelMe labels."""

from ethoflow.demo.make import make_demo_video

__all__ = ["make_demo_video"]
