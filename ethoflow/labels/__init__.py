"""Labels: frames proposed for labelling, the annotation import, masks from keypoints, label QA."""
