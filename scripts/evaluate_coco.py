"""Snakemake entry point: COCO AP (bbox and segm) of a trained model on the validation frames."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
import torch  # noqa: E402

from ethoflow.evaluation.coco import coco_eval  # noqa: E402
from ethoflow.io import read_json, step_logging, write_json  # noqa: E402
from ethoflow.models import load_model, resolve_device  # noqa: E402
from ethoflow.tracking.infer import coco_detections  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    s = sm.params.settings
    torch.set_num_threads(sm.threads)
    device = resolve_device(s.get("device", "cpu"))
    model, meta = load_model(sm.input.model, device, hub=sm.params.hub)
    gt = read_json(sm.input.val)
    dets = coco_detections(
        model, gt, sm.input.images, device, s["infer"]["batch_size"], s["infer"]["mask_threshold"]
    )
    out = {"model": sm.wildcards.model, "val_images": len(gt["images"])}
    cohort = getattr(sm.wildcards, "cohort", None)
    if cohort:  # one model per cohort: the report names it cohort/model
        out["cohort"] = cohort
    for iou_type in ("bbox", "segm"):
        for k, v in coco_eval(gt, dets, iou_type).items():
            out[f"{iou_type}_{k}"] = v
    out.update({k: meta["extra"][k] for k in ("train_seconds", "parameters", "iterations")})
    out["checkpoint_bytes"] = Path(sm.input.model).stat().st_size
    write_json(out, sm.output[0])
