"""The video sheet: rows -> per-video config entries and conditions; every bad sheet is an
error naming the sheet, the row and the column."""

from pathlib import Path

import pytest

from ethoflow.io import EthoflowError
from ethoflow.sheet import conditions_records, glob_videos, merge_sheets, read_sheet

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schemas" / "videos.schema.yaml"


@pytest.fixture()
def data(tmp_path):
    """A facility folder: videos of two cages, a label folder, a truth table, BORIS files."""
    root = tmp_path / "facility"
    for name in ("cageA_d1", "cageA_d2", "cageB_d1", "cageB_d2"):
        (root / "videos").mkdir(parents=True, exist_ok=True)
        (root / "videos" / f"{name}.mp4").write_bytes(b"\0")
        (root / "boris").mkdir(exist_ok=True)
        (root / "boris" / f"{name}.tsv").write_text("x\n")
    (root / "labels" / "cageA_d1").mkdir(parents=True)
    (root / "truth.parquet").write_bytes(b"\0")
    return root


def write(root: Path, text: str, name: str = "videos.tsv") -> Path:
    p = root / name
    p.write_text(text.replace("|", "\t") if name.endswith(".tsv") else text)
    return p


def test_a_sheet_gives_entries_conditions_and_overlays(data):
    sheet = write(
        data,
        "video|path|cohort|group|labels|truth|genotype|day|shards|clip_start|clip_stop|overlay\n"
        "# a comment line\n"
        "a1|videos/cageA_d1.mp4|cageA|wt|labels/cageA_d1|truth.parquet|wt|1|1|||yes\n"
        "a2|videos/cageA_d2.mp4|cageA|ko|||ko|2||10|500|\n"
        "\n"
        "b1|videos/cageB_d1.mp4|cageB|wt|||wt|1||||false\n",
    )
    s = read_sheet(sheet, SCHEMA)
    assert list(s.videos) == ["a1", "a2", "b1"]
    # relative paths resolve against the sheet's folder
    assert s.videos["a1"] == {
        "path": str(data / "videos/cageA_d1.mp4"),
        "labels": str(data / "labels/cageA_d1"),
        "truth": str(data / "truth.parquet"),
        "shards": 1,
    }
    assert s.videos["a2"] == {"path": str(data / "videos/cageA_d2.mp4"), "clip": [10, 500]}
    assert s.overlay == ["a1"]
    c = s.conditions
    assert list(c.columns) == ["video", "cohort", "group", "genotype", "day"]
    assert c["group"].tolist() == ["wt", "ko", "wt"] and c["day"].tolist() == ["1", "2", "1"]
    recs = conditions_records(c)
    assert recs[1] == {
        "video": "a2",
        "cohort": "cageA",
        "group": "ko",
        "genotype": "ko",
        "day": "2",
    }


def test_csv_sheets_and_behaviour_labels(data):
    sheet = write(
        data,
        "video,path,behaviour_labels,behaviour_format,downscale\n"
        "a1,videos/cageA_d1.mp4,boris/cageA_d1.tsv,boris,2\n"
        "a2,videos/cageA_d2.mp4,boris/cageA_d2.tsv,,\n",
        "videos.csv",
    )
    s = read_sheet(sheet, SCHEMA)
    assert s.videos["a1"]["behaviour_labels"] == {
        "path": str(data / "boris/cageA_d1.tsv"),
        "format": "boris",
    }
    assert s.videos["a1"]["downscale"] == 2.0
    assert s.videos["a2"]["behaviour_labels"]["format"] == "bouts"  # the default
    assert list(s.conditions["cohort"]) == [None, None]


def test_a_glob_row_becomes_one_video_per_file(data):
    (data / "videos" / "cageB d3.v2.mp4").write_bytes(b"\0")
    (data / "boris" / "cageB d3.v2.tsv").write_text("x\n")
    sheet = write(
        data,
        "video|path|cohort|group|behaviour_labels\nB|videos/cageB*.mp4|cageB|wt|boris/{stem}.tsv\n",
    )
    s = read_sheet(sheet, SCHEMA)
    # names: the row's video + the file's stem, other characters made '_'
    assert list(s.videos) == ["B_cageB_d3_v2", "B_cageB_d1", "B_cageB_d2"]
    assert s.videos["B_cageB_d1"]["behaviour_labels"]["path"] == str(data / "boris/cageB_d1.tsv")
    assert set(s.conditions["cohort"]) == {"cageB"}


def test_video_glob_and_merging_with_the_yaml_videos(data):
    g = glob_videos(str(data / "videos" / "cageA_*.mp4"))
    assert list(g.videos) == ["cageA_d1", "cageA_d2"]
    merged = merge_sheets([g], {"other": {"path": "x.mp4", "group": "wt", "cohort": "c1"}})
    assert list(merged.videos) == ["other", "cageA_d1", "cageA_d2"]
    assert merged.videos["other"] == {"path": "x.mp4"}  # the conditions are not per-video
    assert merged.conditions.set_index("video").loc["other", "group"] == "wt"
    with pytest.raises(EthoflowError, match="'cageA_d1' is given twice"):
        merge_sheets([g], {"cageA_d1": {"path": "x.mp4"}})
    with pytest.raises(EthoflowError, match="matches no file"):
        glob_videos(str(data / "nothing" / "*.mp4"))


BAD = [
    # (the rows after the header, the row, the column, what the message says)
    ("a1|videos/missing.mp4|g", 1, "path", "file not found"),
    ("a1|videos/cageA_d1.mp4|g\na1|videos/cageA_d2.mp4|g", 2, "video", "duplicate video name 'a1'"),
    ("a 1|videos/cageA_d1.mp4|g", 1, "video", "characters other than"),
    ("a1|videos/cageA_d1.mp4|g\nb/1|videos/cageA_d2.mp4|g", 2, "video", "characters other than"),
    ("a1|videos/cageA_d1.mp4|g|x", 1, "shards", "'x' is not a whole number"),
    ("a1|videos/cageA_d1.mp4|g|0", 1, "shards", "less than the minimum of 1"),
    ("|videos/cageA_d1.mp4|g", 1, "video", "every row names its video"),
    ("a1||g", 1, "path", "needs a video `path`"),
    ("a1|videos/cageZ*.mp4|g", 1, "path", "matches no file"),
]


@pytest.mark.parametrize("rows,row,column,problem", BAD)
def test_bad_sheets_name_the_row_and_the_column(data, rows, row, column, problem):
    sheet = write(data, "video|path|group|shards\n" + rows + "\n")
    with pytest.raises(EthoflowError) as e:
        read_sheet(sheet, SCHEMA)
    msg = str(e.value)
    assert str(sheet) in msg and f"row {row} " in msg and f"column {column!r}" in msg, msg
    assert problem in msg, msg


@pytest.mark.parametrize(
    "text,problem",
    [
        ("video|path|video\na|b|c\n", "column 'video' appears twice"),
        ("path|group\nvideos/cageA_d1.mp4|g\n", "no 'video' column"),
        ("video|path\n", "no video rows"),
        ("video|path\na1|videos/cageA_d1.mp4|extra\n", "row 1 \\(line 2\\): 3 cells"),
    ],
)
def test_malformed_sheets(data, text, problem):
    with pytest.raises(EthoflowError, match=problem):
        read_sheet(write(data, text), SCHEMA)


def test_more_row_errors(data):
    cases = [
        ("video|path|labels\na1|videos/cageA_d1.mp4|labels/nope\n", "labels", "folder not found"),
        ("video|path|clip_start\na1|videos/cageA_d1.mp4|5\n", "clip_stop", "come together"),
        (
            "video|path|clip_start|clip_stop\na1|videos/cageA_d1.mp4|5|5\n",
            "clip_stop",
            "not after clip_start",
        ),
        ("video|path|overlay\na1|videos/cageA_d1.mp4|maybe\n", "overlay", "not true or false"),
        (
            "video|path|behaviour_labels|behaviour_format\n"
            "a1|videos/cageA_d1.mp4|boris/cageA_d1.tsv|excel\n",
            "behaviour_format",
            "is not one of",
        ),
        ("video|path|cohort\na1|videos/cageA_d1.mp4|cage A\n", "cohort", "characters other"),
        ("video|path|labels\nA|videos/cageA*.mp4|labels/x\n", "labels", "{stem}"),
    ]
    for text, column, problem in cases:
        with pytest.raises(EthoflowError) as e:
            read_sheet(write(data, text), SCHEMA)
        assert f"row 1 (line 2), column {column!r}" in str(e.value), str(e.value)
        assert problem in str(e.value), str(e.value)
    with pytest.raises(EthoflowError, match="video sheet not found"):
        read_sheet(data / "none.tsv", SCHEMA)
    with pytest.raises(EthoflowError, match="a .tsv or .csv file"):
        read_sheet(write(data, "video\n", "videos.xlsx"), SCHEMA)


def test_cohort_plans_and_their_errors(data):
    from ethoflow.sheet import cohort_plan

    cohorts = {
        "A": {"identities": ["m1", "m2"]},
        "B": {"identities": ["r1"]},
        "C": {"model_from": "A"},
    }
    videos = {"a1": "A", "a2": "A", "b1": "B", "c1": "C"}
    plan = cohort_plan(cohorts, videos, labelled=["a1", "b1"])
    assert plan == {"a1": "A", "a2": "A", "b1": "B", "c1": "A"}
    # a borrowing cohort's labels train the model it borrows
    assert cohort_plan(cohorts, {"a2": "A", "c1": "C"}, labelled=["c1"])["c1"] == "A"
    bad = [
        (cohorts, {**videos, "x": None}, ["a1", "b1"], "video 'x' has no cohort"),
        (cohorts, {**videos, "x": "Z"}, ["a1", "b1"], "video 'x': unknown cohort 'Z'"),
        (cohorts, videos, ["a1"], "cohorts.B: no labelled video"),
        ({**cohorts, "B": {}}, videos, ["a1", "b1"], "cohorts.B: a cohort whose model is trained"),
        ({**cohorts, "C": {"model_from": "Q"}}, videos, ["a1", "b1"], "unknown cohort 'Q'"),
        (
            {**cohorts, "D": {"model_from": "C"}},
            videos,
            ["a1", "b1"],
            "cohorts.D.model_from: 'C' borrows its model itself",
        ),
    ]
    for c, v, lab, problem in bad:
        with pytest.raises(EthoflowError, match=problem):
            cohort_plan(c, v, lab)


def test_a_sheet_row_names_a_configured_cohort(data):
    text = "video|path|cohort\na1|videos/cageA_d1.mp4|cageA\nb1|videos/cageB_d1.mp4|\n"
    sheet = write(data, text)
    with pytest.raises(EthoflowError) as e:
        read_sheet(sheet, SCHEMA, cohorts=["cageA", "cageB"])
    assert "row 2 (line 3), column 'cohort': empty" in str(e.value)
    sheet = write(data, text.replace("|\n", "|cageZ\n"))
    with pytest.raises(EthoflowError, match="column 'cohort': unknown cohort 'cageZ'"):
        read_sheet(sheet, SCHEMA, cohorts=["cageA", "cageB"])
    assert list(read_sheet(sheet, SCHEMA).videos) == ["a1", "b1"]  # no cohorts configured


def test_spreadsheet_habits_and_reserved_names(data):
    # a header padded with empty cells (spreadsheet exports) is fine
    sheet = write(data, "video|path||\na1|videos/cageA_d1.mp4||\n")
    assert list(read_sheet(sheet, SCHEMA).videos) == ["a1"]
    with pytest.raises(EthoflowError, match="column 'source': a condition column may not"):
        read_sheet(write(data, "video|path|source\na1|videos/cageA_d1.mp4|jax\n"), SCHEMA)
    for bad in ("nan", "inf"):
        with pytest.raises(EthoflowError, match="column 'downscale': .* is not a finite number"):
            read_sheet(write(data, f"video|path|downscale\na1|videos/cageA_d1.mp4|{bad}\n"), SCHEMA)
    with pytest.raises(EthoflowError, match="row 1 \\(line 2\\): 3 cells"):
        read_sheet(write(data, "video|path\na1|videos/cageA_d1.mp4|x\n"), SCHEMA)
