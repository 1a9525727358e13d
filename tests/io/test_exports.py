"""Exports of a track table, loaded back with the readers of each format's own ecosystem."""

import ast

import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as coco_mask

from ethoflow.io import EthoflowError
from ethoflow.io import exports as X
from ethoflow.io import masks as M
from ethoflow.io import tracktable as T

IDS = ["mouse1", "mouse2", "mouse3"]


@pytest.fixture(scope="module")
def tracks(tiny_demo):
    """A real track table (the demo's truth) with one animal missing in a few frames."""
    t = T.read(tiny_demo["va"]["truth"])
    gone = (t["identity"] == "mouse2") & t["frame"].between(10, 14)
    t.loc[gone, ["x1", "y1", "x2", "y2", "cx", "cy"]] = np.nan
    t.loc[gone, "mask"] = None
    t.loc[gone, "area"] = 0
    return t


def test_mot_export_loads_back_with_motmetrics(tracks, tmp_path):
    import motmetrics as mm

    n = X.write_mot(tracks, tmp_path / "v.mot.txt", IDS)
    df = mm.io.loadtxt(tmp_path / "v.mot.txt", fmt="mot15-2D")
    kept = tracks.dropna(subset=["x1"])
    assert n == len(df) == len(kept) == len(tracks) - 5
    for r in kept.sample(20, random_state=0).itertuples():
        got = df.loc[(r.frame + 1, IDS.index(r.identity) + 1)]
        assert got["X"] == pytest.approx(r.x1) and got["Y"] == pytest.approx(r.y1)
        assert got["Width"] == pytest.approx(r.x2 - r.x1)
        assert got["Height"] == pytest.approx(r.y2 - r.y1)
        assert got["Confidence"] == pytest.approx(r.score, abs=1e-4)
    assert (15, 2) not in df.index and (16, 2) in df.index  # frames 10-14 of mouse2: missing


def test_annolid_csv_masks_decode_to_the_track_masks(tracks, tmp_path):
    X.write_annolid(tracks, tmp_path / "v.annolid.csv", IDS)
    df = pd.read_csv(tmp_path / "v.annolid.csv")
    assert list(df.columns) == X.ANNOLID_COLUMNS
    assert df["frame_number"].min() == 0 and len(df) == len(tracks) - 5
    by = tracks.set_index(["frame", "identity"])
    for r in df.sample(15, random_state=1).itertuples():
        rle = ast.literal_eval(r.segmentation)  # as Annolid reads it
        mine = by.loc[(r.frame_number, r.instance_name)]
        np.testing.assert_array_equal(coco_mask.decode(rle).astype(bool), M.decode(mine["mask"]))
        assert (r.x1, r.cx, r.tracking_id) == (
            mine["x1"],
            pytest.approx(mine["cx"]),
            IDS.index(r.instance_name) + 1,
        )


def test_pose_export_is_a_deeplabcut_table_with_nan_where_absent(tracks, tmp_path):
    kp = pd.DataFrame(
        {
            "frame": [3, 3],
            "identity": ["mouse1", "mouse3"],
            "node": ["nose", "nose"],
            "x": [10.0, 20.0],
            "y": [11.0, 21.0],
            "score": [0.9, np.nan],
            "visible": [True, True],
        }
    )
    dest = tmp_path / "v.pose.h5"
    X.write_dlc_pose(tracks, dest, IDS, n_frames=45, keypoints=kp, scorer="ethoflow_truth")
    df = pd.read_hdf(dest, X.DLC_KEY)  # DeepLabCut's own reader
    assert df.columns.names == ["scorer", "individuals", "bodyparts", "coords"]
    assert len(df) == 45 and df.iloc[40:].isna().all().all()  # the video runs past the tracks
    m1 = tracks[(tracks["identity"] == "mouse1")].set_index("frame")
    c = df["ethoflow_truth", "mouse1", "centroid"]
    np.testing.assert_allclose(c.loc[m1.index, "x"], m1["cx"])
    np.testing.assert_allclose(c.loc[m1.index, "y"], m1["cy"])
    assert df["ethoflow_truth", "mouse2", "centroid", "x"].loc[10:14].isna().all()
    assert df["ethoflow_truth", "mouse3", "nose", "x"].loc[3] == 20.0
    assert df["ethoflow_truth", "mouse3", "nose", "likelihood"].loc[3] == 1.0
    assert df["ethoflow_truth", "mouse2", "nose"].isna().all().all()


def test_pose_export_loads_with_movement_where_installed(tracks, tmp_path):
    load_poses = pytest.importorskip("movement.io.load_poses")
    dest = tmp_path / "v.pose.h5"
    X.write_dlc_pose(tracks, dest, IDS)
    ds = load_poses.from_dlc_file(dest, fps=30)
    assert list(ds.individuals.values) == IDS and list(ds.keypoints.values) == ["centroid"]


def test_unknown_identity_is_an_error_naming_the_file_and_nothing_is_written(tracks, tmp_path):
    bad = tracks.copy()
    bad.loc[bad.index[0], "identity"] = "rat9"
    for write, name in ((X.write_mot, "a.mot.txt"), (X.write_annolid, "a.annolid.csv")):
        with pytest.raises(EthoflowError, match=r"a\.(mot|annolid).*'rat9'"):
            write(bad, tmp_path / name, IDS)
    with pytest.raises(EthoflowError, match="rat9"):
        X.write_dlc_pose(bad, tmp_path / "a.pose.h5", IDS)
    assert list(tmp_path.iterdir()) == []


def test_rule_endings_match_the_library():
    from tests.conftest import REPO

    text = (REPO / "rules" / "common.smk").read_text()
    for fmt, ending in X.FORMATS.items():
        assert f'"{fmt}": "{ending}"' in text
