"""The training loss log: one CSV column per loss term, whatever the model family calls it."""

import csv

import pandas as pd

from ethoflow.models.train import loss_columns, write_loss_log
from ethoflow.report import loss_figure


def rows(**terms):
    """Three iterations of made-up losses named ``terms`` (name -> first value)."""
    out = []
    for it in (1, 2, 3):
        r = {"iteration": it, "lr": 1e-3 * it, "loss": sum(terms.values()) / it}
        r.update({k: v / it for k, v in terms.items()})
        r["seconds"] = 0.25
        out.append(r)
    return out


def test_log_columns_follow_the_loss_names_of_any_model_family(tmp_path):
    log = rows(loss_mask=0.5, loss_conf=2.0, loss_box=1.0, loss_semantic=0.25)
    del log[0]["loss_semantic"]  # a term that only some iterations report
    path = tmp_path / "models" / "yolact" / "train_log.csv"
    columns = write_loss_log(log, path)
    expected = [
        "iteration",
        "lr",
        "loss",
        "loss_box",
        "loss_conf",
        "loss_mask",
        "loss_semantic",
        "seconds",
    ]
    assert columns == expected
    with open(path, newline="") as fh:
        assert next(csv.reader(fh)) == expected
    df = pd.read_csv(path)
    assert df["iteration"].tolist() == [1, 2, 3]
    assert df["loss_conf"].tolist() == [2.0, 1.0, 2.0 / 3]
    assert df["loss_semantic"].isna().tolist() == [True, False, False]
    assert not list(path.parent.glob(".train_log*"))  # written atomically
    assert loss_figure(df, "yolact: training loss") is not None


def test_mask_rcnn_terms_and_an_empty_log():
    names = ["loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"]
    log = rows(**dict.fromkeys(names, 1.0))
    assert loss_columns(log) == ["iteration", "lr", "loss", *sorted(names), "seconds"]
    assert loss_columns([]) == ["iteration", "lr", "loss", "seconds"]
