"""Behaviour label files (bout CSV, per-frame CSV, BORIS, Bento, SimBA) -> frame label tables:
type mapping, ignore list, scored spans, clipping, exclusive overlaps, raters, agreement."""

import numpy as np
import pandas as pd
import pytest

from ethoflow.behaviour.labels import LabelSpec, agreement, frame_labels, majority_vote, read_labels
from ethoflow.io import EthoflowError
from ethoflow.io.bento import read_bento
from ethoflow.io.boris import read_boris, write_boris
from ethoflow.io.bouts import (
    BOUT_COLUMNS,
    BehaviourLabelError,
    make_bouts,
    read_bout_csv,
    read_frame_csv,
)
from ethoflow.io.simba import read_simba

OFT_BEHAVIOURS = ["supported", "unsupported", "grooming"]
OFT_MAPPING = {"Supported": "supported", "Unsupported": "unsupported", "Grooming": "grooming"}
RATERS = ["Jin", "Furkan", "Oliver"]
OFT_FRAMES, OFT_FPS = 1998, 25.0


def oft_spec(*, spans: bool = True, exclusive: bool = False, raters="majority") -> LabelSpec:
    span_types = ["Start/End", "StartEnd"]
    return LabelSpec(
        behaviours=OFT_BEHAVIOURS,
        mapping=OFT_MAPPING,
        ignore=["_DEFAULT"] + ([] if spans else span_types),
        span_types=span_types if spans else [],
        exclusive=exclusive,
        overlap="priority",
        raters=raters,
    )


@pytest.fixture(scope="module")
def oft_bouts(shared_data):
    path = shared_data / "oft-rearing" / "OFT_44.labels.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return read_labels(path, "bouts", fps=OFT_FPS)


def per_rater(bouts, spec):
    tables, counts = {}, {}
    for r in RATERS:
        tables[r], counts[r] = frame_labels(
            bouts[bouts["rater"] == r], spec, n_frames=OFT_FRAMES, fps=OFT_FPS, animals=["mouse"]
        )
    return tables, counts


def runs(x: np.ndarray) -> int:
    x = np.asarray(x, dtype=np.int8)
    return int(np.sum(np.diff(np.concatenate([[0], x])) == 1))


# --------------------------------------------------------------------------------------------
# the real open-field file (three raters)


def test_real_bout_file_reads(oft_bouts):
    b = oft_bouts
    assert list(b.columns) == BOUT_COLUMNS
    assert len(b) == 229 and set(b["rater"]) == set(RATERS)
    assert set(b["subject"]) == {""}
    assert b["row"].iloc[0] == 2  # the header is line 1
    sup = b[(b["type"] == "Supported") & (b["start_s"] < 80)]
    assert sup.groupby("rater").size().to_dict() == {"Jin": 9, "Furkan": 9, "Oliver": 11}


def test_real_pairwise_f1_reproduces_the_raters(oft_bouts):
    """Frame i labelled when i / fps lies in [start, stop): over the 1,998 pose frames the
    raters' pairwise F1 for supported rearing is 0.851, 0.874, 0.848."""
    tables, counts = per_rater(oft_bouts, oft_spec(spans=False))
    agree = agreement(tables, OFT_BEHAVIOURS)
    sup = agree[agree["behaviour"] == "supported"].set_index(["rater_a", "rater_b"])
    assert round(sup.loc[("Jin", "Furkan"), "f1"], 3) == 0.851
    assert round(sup.loc[("Jin", "Oliver"), "f1"], 3) == 0.874
    assert round(sup.loc[("Furkan", "Oliver"), "f1"], 3) == 0.848
    assert (sup["n_frames"] == OFT_FRAMES).all()
    for r, n in {"Jin": 9, "Furkan": 9, "Oliver": 11}.items():
        assert runs(tables[r]["supported"].to_numpy()) == n
        # the bout at ~79.8 s runs past the 79.92 s of pose: clipped; the rest of 600 s dropped
        assert counts[r]["clipped"] == 1
        assert counts[r]["dropped_past_end"] > 50
    assert counts["Jin"]["ignored"] == 3  # _DEFAULT + the two Start/End marks


def test_real_scored_spans_per_rater(oft_bouts):
    """With the span markers each rater scores from its first mark (Jin: 4.023 s); agreement
    is taken on the frames both raters scored."""
    tables, counts = per_rater(oft_bouts, oft_spec(spans=True))
    first_scored = {r: int(t["frame"][t["scored"]].min()) for r, t in tables.items()}
    assert first_scored == {"Jin": 101, "Furkan": 92, "Oliver": 97}
    assert all(t["scored"].iloc[-1] for t in tables.values())
    assert counts["Jin"]["ignored"] == 1 and counts["Furkan"]["ignored"] == 0
    agree = agreement(tables, ["supported"]).set_index(["rater_a", "rater_b"])
    assert agree.loc[("Jin", "Furkan"), "n_frames"] == OFT_FRAMES - 101
    assert round(agree.loc[("Jin", "Furkan"), "f1"], 3) == 0.851
    assert round(agree.loc[("Jin", "Oliver"), "f1"], 3) == 0.881
    assert round(agree.loc[("Furkan", "Oliver"), "f1"], 3) == 0.850


def test_real_majority_and_exclusive(oft_bouts):
    spec = oft_spec(exclusive=True)
    maj, counts = frame_labels(oft_bouts, spec, n_frames=OFT_FRAMES, fps=OFT_FPS, animals=["mouse"])
    assert list(maj.columns) == ["animal", "frame", "scored", *OFT_BEHAVIOURS]
    assert maj[OFT_BEHAVIOURS].sum(axis=1).max() <= 1
    assert counts["overlaps_resolved"] == 1  # Oliver: Supported 8.127-8.940 / Unsupported 8.898-
    assert counts["clipped"] == 3
    tables, _ = per_rater(oft_bouts, spec)
    assert maj.equals(majority_vote(tables))
    assert int(maj["scored"].sum()) == OFT_FRAMES - 101  # all three scored
    one, _ = frame_labels(
        oft_bouts, oft_spec(raters="Oliver"), n_frames=OFT_FRAMES, fps=OFT_FPS, animals=["m"]
    )
    assert runs(one["supported"].to_numpy()) == 11
    with pytest.raises(BehaviourLabelError, match="several raters"):
        frame_labels(oft_bouts, oft_spec(raters=None), n_frames=10, fps=25, animals=["m"])
    with pytest.raises(BehaviourLabelError, match="'Nobody' is not one of"):
        frame_labels(oft_bouts, oft_spec(raters="Nobody"), n_frames=10, fps=25, animals=["m"])


# --------------------------------------------------------------------------------------------
# frame labels on small tables


def bouts_of(*rows, rater="", file="x.csv"):
    return make_bouts(
        [
            dict(rater=rater, subject=s, type=t, start_s=a, stop_s=b, file=file, row=i + 2)
            for i, (s, t, a, b) in enumerate(rows)
        ]
    )


def test_frame_convention_points_and_subjects():
    spec = LabelSpec(behaviours=["a", "b"], mapping={"A": "a"})
    bouts = bouts_of(("m1", "A", 0.1, 0.3), ("m2", "b", 0.25, 0.25), ("m2", "b", 0.9, 2.0))
    t, c = frame_labels(bouts, spec, n_frames=10, fps=10, animals=["m1", "m2"])
    m1, m2 = t[t["animal"] == "m1"], t[t["animal"] == "m2"]
    assert m1["a"].tolist() == [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert m2["b"].tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 0, 1]  # point at 0.25 s: frame 2
    assert t["frame"].dtype == np.int64 and t["a"].dtype == np.int8 and t["scored"].all()
    assert c == {"clipped": 1, "dropped_past_end": 0, "overlaps_resolved": 0, "ignored": 0}
    with pytest.raises(BehaviourLabelError, match=r"x\.csv: row 2: .*no subject"):
        frame_labels(bouts_of(("", "a", 0, 1)), spec, n_frames=5, fps=5, animals=["m1", "m2"])
    with pytest.raises(BehaviourLabelError, match=r"x\.csv: row 2: subject 'm9'"):
        frame_labels(bouts_of(("m9", "a", 0, 1)), spec, n_frames=5, fps=5, animals=["m1"])


@pytest.mark.parametrize(
    "rule, winner", [("first", "a"), ("last", "b"), ("longest", "b"), ("priority", "a")]
)
def test_exclusive_overlap_rules(rule, winner):
    spec = LabelSpec(behaviours=["a", "b"], exclusive=True, overlap=rule)
    bouts = bouts_of(("", "a", 0.0, 0.4), ("", "b", 0.2, 0.9))
    t, c = frame_labels(bouts, spec, n_frames=10, fps=10, animals=["m"])
    assert t[["a", "b"]].sum(axis=1).max() == 1
    assert t.loc[3, winner] == 1  # frame 3 (0.3 s) is in both bouts
    assert c["overlaps_resolved"] == 1
    assert int(t["a"].sum() + t["b"].sum()) == 9


def test_span_clip_drop_and_ignore():
    spec = LabelSpec(behaviours=["a"], ignore=["_DEFAULT"], span_types=["Start/End"])
    bouts = bouts_of(
        ("", "Start/End", 0.2, 0.3),
        ("", "a", 0.5, 1.5),
        ("", "a", 2.0, 3.0),
        ("", "_DEFAULT", 0.0, 0.1),
        ("", "Start/End", 0.7, 0.8),
    )
    t, c = frame_labels(bouts, spec, n_frames=10, fps=10, animals=["m"])
    assert t["scored"].tolist() == [False, False] + [True] * 6 + [False, False]
    assert t["a"].tolist() == [0] * 5 + [1] * 5
    assert c == {"clipped": 1, "dropped_past_end": 1, "overlaps_resolved": 0, "ignored": 1}


def test_majority_vote_and_agreement():
    spec = LabelSpec(behaviours=["a"])
    tabs = {
        r: frame_labels(bouts_of(("", "a", a, b)), spec, n_frames=10, fps=10, animals=["m"])[0]
        for r, (a, b) in {"r1": (0.0, 0.4), "r2": (0.2, 0.6), "r3": (0.3, 0.5)}.items()
    }
    tabs["r3"].loc[9, "scored"] = False
    maj = majority_vote(tabs)
    assert maj["a"].tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]
    assert maj["scored"].sum() == 9
    ag = agreement(tabs, ["a"]).set_index(["rater_a", "rater_b"])
    row = ag.loc[("r1", "r2")]
    assert row["precision"] == 0.5 and row["recall"] == 0.5 and row["f1"] == 0.5
    assert row["n_frames"] == 10 and ag.loc[("r1", "r3"), "n_frames"] == 9


# --------------------------------------------------------------------------------------------
# each format on a small written sample


def test_bout_csv_aliases(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text("observer,animal,start_s,stop_s,behaviour\nann,m1,0.5,1.0,a\nann,m2,1,2.5,b\n")
    b = read_bout_csv(p)
    assert b[["rater", "subject", "type"]].values.tolist() == [
        ["ann", "m1", "a"],
        ["ann", "m2", "b"],
    ]
    assert b["start_s"].tolist() == [0.5, 1.0] and b["row"].tolist() == [2, 3]
    p.write_text("start\tstop\ttype\n0\t1\ta\n")
    b = read_bout_csv(p)
    assert b["rater"].tolist() == [""] and b["stop_s"].tolist() == [1.0]


def test_frame_csv(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text("frame,a,b\n0,0,1\n1,1,1\n2,1,0\n3,0,0\n4,1,0\n")
    b = read_frame_csv(p, fps=10)
    got = sorted(zip(b["type"], b["start_s"], b["stop_s"], b["row"]))
    assert got == [("a", 0.1, 0.3, 3), ("a", 0.4, 0.5, 6), ("b", 0.0, 0.2, 2)]
    t, _ = frame_labels(b, LabelSpec(["a", "b"]), n_frames=5, fps=10, animals=["m"])
    assert t["a"].tolist() == [0, 1, 1, 0, 1] and t["b"].tolist() == [1, 1, 0, 0, 0]


BORIS_V7 = """Observation id,obs1,,,,,,,
,,,,,,,,
Media file(s),,,,,,,,
,,,,,,,,
Player #1,/data/cage1.mp4,,,,,,,
,,,,,,,,
Time offset (s),0,,,,,,,
,,,,,,,,
Time,Media file path,Total length,FPS,Subject,Behavior,Behavioral category,Comment,Status
1.876,/data/cage1.mp4,60.0,25,m1,attack,social,,START
2.0,/data/cage1.mp4,60.0,25,m2,sniff,social,,START
2.701,/data/cage1.mp4,60.0,25,m1,attack,social,,STOP
3.5,/data/cage1.mp4,60.0,25,m2,sniff,social,,STOP
4.25,/data/cage1.mp4,60.0,25,,jump,,,POINT
"""


def test_boris_events_and_aggregated(tmp_path):
    p = tmp_path / "obs.csv"
    p.write_text(BORIS_V7)
    b = read_boris(p)
    got = list(zip(b["subject"], b["type"], b["start_s"], b["stop_s"], b["row"]))
    assert got == [("m1", "attack", 1.876, 2.701, 10), ("m2", "sniff", 2.0, 3.5, 11),
                   ("", "jump", 4.25, 4.25, 14)]  # fmt: skip
    q = tmp_path / "agg.tsv"
    q.write_text(
        "Observation id\tSubject\tBehavior\tBehavior type\tStart (s)\tStop (s)\tDuration (s)\n"
        "o\tNo focal subject\trear\tSTATE\t1.5\t2.5\t1.0\n"
        "o\tm1\tjump\tPOINT\t3.0\t\t\n"
    )
    b = read_boris(q)
    assert list(zip(b["subject"], b["type"], b["start_s"], b["stop_s"])) == [
        ("", "rear", 1.5, 2.5),
        ("m1", "jump", 3.0, 3.0),
    ]
    assert read_labels(q, "boris", fps=None).equals(b)


def test_boris_write_read_round_trip(tmp_path):
    fps = 30.0
    rows = [("m1", "m2", "approach", 3, 10), ("m2", "", "rest", 0, 31), ("m1", "", "rest", 10, 12)]
    bouts = pd.DataFrame(
        [
            dict(
                video="v",
                animal=a,
                partner=p,
                behaviour=k,
                start_frame=s,
                stop_frame=e,
                start_s=s / fps,
                stop_s=e / fps,
                duration_s=(e - s) / fps,
            )  # fmt: skip
            for a, p, k, s, e in rows
        ]
    )
    for name in ("v.tsv", "v.csv"):
        dest = tmp_path / name
        write_boris(bouts, dest, fps=fps, observation_id="v", media_file="v.mp4")
        back = read_boris(dest).sort_values(["subject", "start_s"]).reset_index(drop=True)
        want = bouts.sort_values(["animal", "start_s"]).reset_index(drop=True)
        assert back["subject"].tolist() == want["animal"].tolist()
        assert back["type"].tolist() == want["behaviour"].tolist()
        assert back["start_s"].tolist() == want["start_s"].tolist()
        assert back["stop_s"].tolist() == want["stop_s"].tolist()
    spec = LabelSpec(["approach", "rest"])
    t, _ = frame_labels(read_boris(dest), spec, n_frames=31, fps=fps, animals=["m1", "m2"])
    m1 = t[t["animal"] == "m1"]
    assert np.flatnonzero(m1["approach"].to_numpy()).tolist() == list(range(3, 10))
    assert t[t["animal"] == "m2"]["rest"].sum() == 31


BENTO = """Bento annotation file
Movie file(s):  /data/Mouse06_Top.seq

Stimulus name:
Annotation start frame: 1
Annotation stop frame: 300
Annotation framerate: 30.000000

List of channels:
Ch1
Ch2

List of annotations:
attack
sniff

Ch1----------
>attack
Start\t Stop\t Duration
31\t60\t29
91\t91\t0

>sniff
Start\t Stop\t Duration
121\t150\t29


Ch2----------
>sniff
Start\t Stop\t Duration
1\t15\t14


"""


def test_bento(tmp_path):
    p = tmp_path / "m.annot"
    p.write_text(BENTO)
    b = read_bento(p)
    got = list(zip(b["subject"], b["type"], b["start_s"], b["stop_s"], b["row"]))
    assert got == [("Ch1", "attack", 1.0, 2.0, 20), ("Ch1", "attack", 3.0, 91 / 30, 21),
                   ("Ch1", "sniff", 4.0, 5.0, 25), ("Ch2", "sniff", 0.0, 0.5, 31)]  # fmt: skip
    r = read_bento(p, channel_as="rater")
    assert set(r["rater"]) == {"Ch1", "Ch2"} and set(r["subject"]) == {""}
    t, _ = frame_labels(r[r["rater"] == "Ch1"], LabelSpec(["attack", "sniff"]), n_frames=300,
                        fps=30, animals=["m"])  # fmt: skip
    assert np.flatnonzero(t["attack"].to_numpy()).tolist() == list(range(30, 60)) + [90]
    # BentoMAT writes seconds (a decimal point): taken as they are
    p.write_text(BENTO.replace("31\t60\t29", "1.5\t2.25\t0.75"))
    assert read_bento(p)["start_s"].iloc[0] == 1.5


def simba_csv(path, attack="0,1,1,0,1"):
    vals = attack.split(",")
    lines = [",nose_x,nose_y,Movement_mean,attack,sniff"]
    lines += [f"{i},{10 + i}.5,20.0,0.3,{v},{int(i == 0)}" for i, v in enumerate(vals)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_simba(tmp_path):
    p = simba_csv(tmp_path / "Video1.csv")
    b = read_simba(p, ["attack", "sniff"], fps=10)
    got = sorted(zip(b["type"], b["start_s"], b["stop_s"]))
    assert got == [("attack", 0.1, 0.3), ("attack", 0.4, 0.5), ("sniff", 0.0, 0.1)]
    assert read_labels(p, "simba", fps=10, behaviours=["attack"])["type"].tolist() == ["attack"] * 2


# --------------------------------------------------------------------------------------------
# corrupted files: the message names the file and the row


def check_error(exc, path, row):
    msg = str(exc.value)
    assert str(path) in msg and f"row {row}" in msg, msg
    assert isinstance(exc.value, EthoflowError)


def test_error_unknown_type(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text("rater,start,stop,type\nr,0,1,a\nr,1,2,Sleeping\n")
    with pytest.raises(BehaviourLabelError, match="unknown behaviour type 'Sleeping'") as e:
        frame_labels(read_bout_csv(p), LabelSpec(["a"]), n_frames=50, fps=10, animals=["m"])
    check_error(e, p, 3)


def test_error_stop_before_start(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text("rater,start,stop,type\nr,0,1,a\nr,2,1.5,a\n")
    with pytest.raises(BehaviourLabelError, match="before it starts") as e:
        read_bout_csv(p)
    check_error(e, p, 3)


def test_error_malformed_number(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text("rater,start,stop,type\nr,0,1,a\nr,1.2.3,2,a\n")
    with pytest.raises(BehaviourLabelError, match=r"'1\.2\.3' is not a number") as e:
        read_bout_csv(p)
    check_error(e, p, 3)


def test_error_missing_column(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text("rater,start,type\nr,0,a\n")
    with pytest.raises(BehaviourLabelError, match="no 'stop' column") as e:
        read_bout_csv(p)
    check_error(e, p, 1)
    with pytest.raises(BehaviourLabelError, match=r"no column for the behaviours \['groom'\]") as e:
        read_simba(simba_csv(tmp_path / "s.csv"), ["attack", "groom"], fps=10)
    check_error(e, tmp_path / "s.csv", 1)


def test_error_bout_before_zero(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text("rater,start,stop,type\nr,0,1,a\nr,-0.5,0.2,a\n")
    with pytest.raises(BehaviourLabelError, match="before the video") as e:
        frame_labels(read_bout_csv(p), LabelSpec(["a"]), n_frames=50, fps=10, animals=["m"])
    check_error(e, p, 3)


@pytest.mark.parametrize(
    "edit, row, message",
    [
        (lambda s: s.replace("2.701,/data/cage1.mp4,60.0,25,m1,attack,social,,STOP\n", ""),
         10, "never stopped"),
        (lambda s: s.replace("1.876,/data/cage1.mp4,60.0,25,m1,attack,social,,START\n", ""),
         11, "STOP of 'attack' of 'm1' without a START"),
        (lambda s: s.replace("2.701,", "1.5,"), 12, "before its START"),
        (lambda s: s.replace("sniff,social,,STOP", "sniff,social,,END"), 13, "'END' is not START"),
        (lambda s: s.replace("3.5,", "3.5s,"), 13, "'3.5s' is not a number"),
    ],
)  # fmt: skip
def test_error_boris_unmatched(tmp_path, edit, row, message):
    p = tmp_path / "obs.csv"
    p.write_text(edit(BORIS_V7))
    with pytest.raises(BehaviourLabelError, match=message) as e:
        read_boris(p)
    check_error(e, p, row)


def test_error_simba_not_binary(tmp_path):
    p = simba_csv(tmp_path / "Video1.csv", attack="0,1,2,0,1")
    with pytest.raises(BehaviourLabelError, match="'2' is not 0 or 1") as e:
        read_simba(p, ["attack"], fps=10)
    check_error(e, p, 4)


def test_error_bento_bad_row(tmp_path):
    p = tmp_path / "m.annot"
    p.write_text(BENTO.replace("121\t150\t29", "121\tx\t29"))
    with pytest.raises(BehaviourLabelError, match="not a number") as e:
        read_bento(p)
    check_error(e, p, 25)


def test_unknown_format_and_spec_checks(tmp_path):
    with pytest.raises(BehaviourLabelError, match="unknown label format"):
        read_labels(tmp_path / "x", "ethovision", fps=25)
    with pytest.raises(BehaviourLabelError, match="overlap"):
        LabelSpec(["a"], overlap="middle")
    with pytest.raises(BehaviourLabelError, match="not behaviours"):
        LabelSpec(["a"], mapping={"A": "b"})
