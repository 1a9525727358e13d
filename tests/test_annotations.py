import json
import shutil

import pytest

from ethoflow.io import EthoflowError, read_json, read_rgb
from ethoflow.labels.annotations import (
    AnnotationError,
    import_annotations,
    label_files_in,
    split_of,
)

IDS = ["mouse1", "mouse2", "mouse3"]


@pytest.fixture
def labels(tiny_demo, tmp_path):
    """A private, editable copy of the labelled demo frames."""
    dest = tmp_path / "labels"
    shutil.copytree(tiny_demo["va"]["labels"], dest)
    return dest


def outputs(tmp_path):
    return dict(
        train_json=tmp_path / "out" / "train.json",
        val_json=tmp_path / "out" / "val.json",
        images_dir=tmp_path / "out" / "images",
    )


def assert_no_output(out):
    for p in out.values():
        assert not p.exists(), f"{p} left behind after an error"


def edit_first(labels, fn):
    path = sorted(labels.glob("*.json"))[0]
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))
    return path


def test_import_writes_coco_with_one_category_per_identity(labels, tmp_path):
    out = outputs(tmp_path)
    counts = import_annotations(label_files_in(labels), IDS, **out, val_fraction=0.2)
    train, val = read_json(out["train_json"]), read_json(out["val_json"])
    assert [c["name"] for c in train["categories"]] == IDS
    assert counts["train"] + counts["val"] == 10 and counts["val"] >= 1
    assert len(train["annotations"]) == 3 * counts["train"]  # three animals per frame
    names = {i["file_name"] for i in train["images"]} | {i["file_name"] for i in val["images"]}
    assert names == {p.name for p in out["images_dir"].iterdir()}
    assert {i["video"] for i in train["images"]} == {"va"}
    # the split is a function of the frame name alone
    for img in val["images"]:
        assert split_of(img["file_name"][:-4], 0.2) == "val" or counts["val"] == 1


def test_split_is_stable_when_labels_are_added():
    names = [f"v_{i:06d}" for i in range(200)]
    before = {n: split_of(n, 0.2) for n in names[:100]}
    after = {n: split_of(n, 0.2) for n in names}
    assert all(after[n] == s for n, s in before.items())
    assert 20 <= sum(s == "val" for s in after.values()) <= 60


@pytest.mark.parametrize(
    "mutate, field, words",
    [
        (
            lambda d: d["shapes"][0].update(points=d["shapes"][0]["points"][:2]),
            "shapes[0].points",
            "needs >= 3",
        ),
        (lambda d: d["shapes"][1].update(label="rat7"), "shapes[1].label", "rat7"),
        (lambda d: d.update(imageWidth=999), "imageWidth", "999"),
        (lambda d: d["shapes"].append(dict(d["shapes"][0])), "shapes[3].label", "twice"),
        (lambda d: d.update(imagePath="missing.png"), "imagePath", "not found"),
    ],
    ids=["polygon<3", "unknown-label", "size-mismatch", "identity-twice", "missing-image"],
)
def test_bad_labels_name_file_and_field_and_leave_no_output(labels, tmp_path, mutate, field, words):
    bad = edit_first(labels, mutate)
    out = outputs(tmp_path)
    with pytest.raises(AnnotationError) as err:
        import_annotations(label_files_in(labels), IDS, **out)
    msg = str(err.value)
    assert str(bad) in msg and field in msg and words in msg, msg
    assert_no_output(out)


def test_parts_of_one_animal_share_a_group_id(labels, tmp_path):
    def split_animal(d):
        extra = dict(d["shapes"][0])
        d["shapes"][0]["group_id"] = extra["group_id"] = 5
        d["shapes"].append(extra)

    edit_first(labels, split_animal)
    out = outputs(tmp_path)
    import_annotations(label_files_in(labels), IDS, **out)  # no error: one instance in two parts


def test_no_labels_at_all(tmp_path, labels):
    out = outputs(tmp_path)
    with pytest.raises(EthoflowError, match="no label files"):
        import_annotations([], IDS, **out)
    for p in labels.glob("*.json"):
        doc = json.loads(p.read_text())
        doc["shapes"] = []
        p.write_text(json.dumps(doc))
    with pytest.raises(EthoflowError, match="no labelled instances"):
        import_annotations(label_files_in(labels), IDS, **out)
    assert_no_output(out)


def test_invalid_json_names_the_file(labels, tmp_path):
    bad = sorted(labels.glob("*.json"))[0]
    bad.write_text('{"shapes": [')
    with pytest.raises(EthoflowError, match=str(bad)):
        import_annotations(label_files_in(labels), IDS, **outputs(tmp_path))


def test_coco_input_round_trips(labels, tmp_path):
    out = outputs(tmp_path)
    import_annotations(label_files_in(labels), IDS, **out, val_fraction=0.0)
    coco = read_json(out["train_json"])
    coco_dir = tmp_path / "coco"
    shutil.copytree(out["images_dir"], coco_dir)
    (coco_dir / "set.coco.json").write_text(json.dumps(coco))
    out2 = outputs(tmp_path / "again")
    import_annotations([coco_dir / "set.coco.json"], IDS, **out2, val_fraction=0.0)
    again = read_json(out2["train_json"])
    assert [a["segmentation"] for a in again["annotations"]] == [
        a["segmentation"] for a in coco["annotations"]
    ]
    # the same identity twice in one COCO image is refused too
    coco["annotations"].append(dict(coco["annotations"][0], id=999))
    (coco_dir / "set.coco.json").write_text(json.dumps(coco))
    with pytest.raises(AnnotationError, match="appears twice"):
        import_annotations([coco_dir / "set.coco.json"], IDS, **outputs(tmp_path / "3"))


def test_a_labelled_file_replaces_the_bootstrapped_one_of_its_frame(labels, tmp_path):
    """Folders (masks bootstrapped from keypoints) give their *.json; a labels-folder file with the
    same frame name wins, as a corrected review file must."""
    from ethoflow.labels.annotations import resolve_label_inputs

    boot = tmp_path / "bootstrap"
    shutil.copytree(labels, boot)
    (boot / "bootstrap.csv").write_text("name\n")
    hand = tmp_path / "hand"
    hand.mkdir()
    first = sorted(labels.glob("*.json"))[0]
    for f in labels.glob(first.stem + ".*"):  # the file and its image
        shutil.copy(f, hand / f.name)
    got = resolve_label_inputs([str(hand / first.name), str(boot)])
    names = [p.split("/")[-1] for p in got]
    assert len(names) == len(set(names)) == len(list(labels.glob("*.json")))
    assert str(hand / first.name) in got and str(boot / first.name) not in got
    assert not any(n.endswith(".csv") for n in names)


def test_image_reader_names_the_file_and_what_it_is(tmp_path):
    import numpy as np
    from PIL import Image

    good = tmp_path / "ok.png"
    Image.fromarray(np.full((4, 6), 200, np.uint8)).save(good)
    rgb = read_rgb(good, "training image")
    assert rgb.shape == (4, 6, 3) and rgb.dtype == np.uint8 and (rgb == 200).all()
    with pytest.raises(EthoflowError, match=r"missing\.png: training image not found"):
        read_rgb(tmp_path / "missing.png", "training image")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(EthoflowError, match=r"bad\.png: evaluation image cannot be read"):
        read_rgb(bad, "evaluation image")
