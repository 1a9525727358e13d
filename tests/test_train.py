import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ethoflow.labels.annotations import import_annotations, label_files_in
from ethoflow.models import load_model

IDS = ["mouse1", "mouse2", "mouse3"]
NET = dict(backbone="resnet18_fpn", min_size=128, max_size=128, fpn_channels=32)
NETS = {
    "maskrcnn": NET,
    "yolact": dict(backbone="resnet18", input_size=128, fpn_channels=32, proto_channels=32),
}
CFG = dict(iterations=8, batch_size=2, warmup=2, checkpoint_every=2, seed=3)

RUNNER = """
import sys, json
from ethoflow.models.train import train
args = json.loads(sys.argv[1])
train(
    family=args["family"], settings=args["net"], train_cfg=args["cfg"], **args["paths"], threads=1
)
"""


@pytest.fixture(scope="module")
def dataset(tiny_demo, tmp_path_factory):
    d = tmp_path_factory.mktemp("ds")
    import_annotations(
        label_files_in(tiny_demo["va"]["labels"]),
        IDS,
        d / "train.json",
        d / "val.json",
        d / "images",
        val_fraction=0.2,
    )
    return d


def paths(ds, out):
    return dict(
        train_json=str(ds / "train.json"),
        images_dir=str(ds / "images"),
        model_out=str(out / "model.pt"),
        log_csv=str(out / "log.csv"),
        checkpoint=str(out / "ckpt.pt"),
    )


def run_training(ds, out, kill_after_checkpoint=False, family="maskrcnn"):
    import json

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    arg = json.dumps(dict(family=family, net=NETS[family], cfg=CFG, paths=paths(ds, out)))
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, arg], env=env, stderr=subprocess.PIPE, text=True
    )
    if kill_after_checkpoint:
        ckpt = out / "ckpt.pt"
        deadline = time.time() + 120
        while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return proc
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return proc


@pytest.mark.parametrize("family", ["maskrcnn", "yolact"])
def test_training_resumes_after_kill_and_matches_an_uninterrupted_run(dataset, tmp_path, family):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run_training(dataset, straight, family=family)
    run_training(dataset, killed, kill_after_checkpoint=True, family=family)
    assert (killed / "ckpt.pt").exists() and not (killed / "model.pt").exists()
    resumed_at = torch.load(killed / "ckpt.pt", weights_only=True)["iteration"]
    assert 0 < resumed_at < CFG["iterations"]
    run_training(dataset, killed, family=family)
    a, meta_a = load_model(straight / "model.pt")
    b, meta_b = load_model(killed / "model.pt")
    assert meta_b["extra"]["resumed_at"] == resumed_at
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    log_lines = (killed / "log.csv").read_text().splitlines()
    assert len(log_lines) == CFG["iterations"] + 1  # header + one row per iteration
    assert not (killed / "ckpt.pt").exists()


def test_checkpoint_of_other_labels_is_not_resumed(dataset, tmp_path, caplog):
    from ethoflow.models.train import train

    out = tmp_path / "o"
    out.mkdir()
    torch.save(
        {"iteration": 4, "fingerprint": "somethingelse", "model": {}, "optimizer": {}, "log": []},
        out / "ckpt.pt",
    )
    cfg = dict(CFG, iterations=2)
    with caplog.at_level("INFO"):
        extra = train(family="maskrcnn", settings=NET, train_cfg=cfg, **paths(dataset, out))
    assert extra["resumed_at"] == 0
    assert "other labels or settings" in caplog.text


def test_model_files_load_with_weights_only(tmp_path):
    from ethoflow.io import EthoflowError

    evil = tmp_path / "evil.pt"

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"format": "x", "obj": Boom()}, evil)
    with pytest.raises(EthoflowError, match="evil.pt"):
        load_model(evil)
