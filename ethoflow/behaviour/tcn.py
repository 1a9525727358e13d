"""The temporal classifier: a multi-stage temporal convolutional network (MS-TCN, Farha & Gall
2019) over the per-frame feature sequences. The behaviour stage's only torch module.

Stage 1 is a 1x1 convolution in, ``layers`` dilated residual layers (kernel 3, dilation 2^i,
non-causal, dropout) and a 1x1 convolution out; each further stage refines the softmax
(exclusive) or sigmoid (multi-label) of the stage before. Loss, summed over stages: class-
balanced cross-entropy (exclusive; inverse-frequency weights, clipped) or BCE with a clipped
``pos_weight`` (multi-label), on scored frames only, plus ``smooth_weight`` times MS-TCN's
truncated MSE (tau 4) between the log-probabilities of neighbouring frames.

Auxiliary heads (multi-label only, ``auxiliary: {name: [behaviour, ...]}``): extra outputs
trained on the union of their member behaviours' labels (a frame is positive when any member
is), learnt beside the behaviours and never predicted. With few bouts of each kind, a head for
what the kinds share (rearing, whether supported or not) gives the network more examples of the
posture than each kind's own head sees.

Training is a pure function of (sequences, settings): the crops of epoch ``e`` and its dropout
draw from generators seeded by (seed, e), and a checkpoint in ``workdir`` (every
``checkpoint_every`` epochs; model, optimizer and history; resumed only when its fingerprint of
data and settings matches) lets a killed run continue exactly as if it had not stopped.

The weights file is a plain ``torch.save`` dict (tensors, lists, numbers, strings), read back
with ``weights_only=True`` only: ``{"format": "ethoflow-behaviour-tcn", "version": 1,
"state_dict", "settings", "columns", "mean", "std", "behaviours", "exclusive", "classes"}``,
and ``"keep"``, ``"n_columns"`` when the network reads only some columns (``window_inputs:
false``: the per-frame columns, not the window statistics), and ``"auxiliary"`` (name ->
member behaviours) when the network has auxiliary heads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Mapping
from collections.abc import Sequence as SequenceABC
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ethoflow.behaviour.dataset import (
    Sequence,
    Standardizer,
    auxiliary_groups,
    check_columns,
    classes_of,
    labelled,
    with_auxiliary,
)
from ethoflow.behaviour.windows import is_window_column
from ethoflow.defaults import BEHAVIOUR
from ethoflow.io import EthoflowError, atomic_path

log = logging.getLogger(__name__)

FORMAT = "ethoflow-behaviour-tcn"
VERSION = 1
CHECKPOINT = "checkpoint.pt"
#: what every weights file holds
_WEIGHTS_KEYS = (
    "state_dict",
    "settings",
    "columns",
    "mean",
    "std",
    "behaviours",
    "exclusive",
    "classes",
)

#: TCN settings: the config's ``behaviour.tcn`` table (``ethoflow.defaults.BEHAVIOUR``).
DEFAULT_TCN = {**BEHAVIOUR["tcn"], "threads": None}

#: settings that do not change what is learnt (kept out of the checkpoint fingerprint).
_RUNTIME = ("threads", "device", "checkpoint_every")
PathLike = str | os.PathLike


# --------------------------------------------------------------------------------------------
# the network


class DilatedResidual(nn.Module):
    def __init__(self, dilation: int, channels: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.out = nn.Conv1d(channels, channels, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return x + self.dropout(self.out(F.relu(self.conv(x))))


class Stage(nn.Module):
    def __init__(self, n_in: int, channels: int, layers: int, n_out: int, dropout: float):
        super().__init__()
        self.inp = nn.Conv1d(n_in, channels, 1)
        self.layers = nn.ModuleList(DilatedResidual(2**i, channels, dropout) for i in range(layers))
        self.out = nn.Conv1d(channels, n_out, 1)

    def forward(self, x):
        x = self.inp(x)
        for layer in self.layers:
            x = layer(x)
        return self.out(x)


class MSTCN(nn.Module):
    """[B, n_in, T] -> logits of every stage, [stages, B, n_classes, T] (``n_classes``: the
    behaviour classes, then any auxiliary heads)."""

    def __init__(self, n_in, n_classes, *, channels, layers, stages, dropout, exclusive):
        super().__init__()
        self.exclusive = bool(exclusive)
        self.stages = nn.ModuleList(
            [Stage(n_in, channels, layers, n_classes, dropout)]
            + [Stage(n_classes, channels, layers, n_classes, dropout) for _ in range(stages - 1)]
        )
        self.context = (stages) * (2**layers - 1)  # frames each side an output depends on

    def activate(self, logits):
        return logits.softmax(dim=1) if self.exclusive else logits.sigmoid()

    def forward(self, x):
        out = self.stages[0](x)
        outs = [out]
        for stage in self.stages[1:]:
            out = stage(self.activate(out))
            outs.append(out)
        return torch.stack(outs)


def build(settings: dict, n_in: int, n_classes: int, exclusive: bool) -> MSTCN:
    return MSTCN(
        n_in,
        n_classes,
        channels=int(settings["channels"]),
        layers=int(settings["layers"]),
        stages=int(settings["stages"]),
        dropout=float(settings["dropout"]),
        exclusive=exclusive,
    )


# --------------------------------------------------------------------------------------------
# loss


def class_weights(
    seqs: SequenceABC[Sequence], exclusive: bool, clip: float, groups: Mapping | None = None
) -> torch.Tensor:
    """Exclusive: inverse-frequency class weights (mean 1 over present classes), clipped to
    [1/clip, clip]. Multi-label: BCE ``pos_weight`` = negatives/positives, clipped to [1, clip]
    (auxiliary heads, ``groups``, weighted as the behaviours are)."""
    y = np.concatenate([with_auxiliary(s.y[s.scored], groups) for s in seqs]).astype(np.float64)
    pos = y.sum(axis=0)
    n = len(y)
    if exclusive:
        present = pos > 0
        w = np.ones(y.shape[1])
        w[present] = n / (present.sum() * pos[present])
        w = np.clip(w, 1.0 / clip, clip)
    else:
        w = np.divide(n - pos, pos, out=np.ones(y.shape[1]), where=pos > 0)
        w = np.clip(w, 1.0, clip)
    return torch.tensor(w, dtype=torch.float32)


def tcn_loss(model, logits, y, scored, valid, weights, settings) -> tuple[torch.Tensor, dict]:
    """Summed over stages: class loss on scored frames + smoothing on neighbouring valid frames.

    logits [S, B, C, T]; y [B, C, T]; scored, valid [B, T] bool."""
    n_scored = scored.sum().clamp(min=1)
    pair = (valid[:, 1:] & valid[:, :-1]).unsqueeze(1)  # [B, 1, T-1]
    n_pair = pair.sum().clamp(min=1) * logits.shape[2]
    tau2 = float(settings["smooth_tau"]) ** 2
    cls_total = logits.new_zeros(())
    smooth_total = logits.new_zeros(())
    for out in logits:
        if model.exclusive:
            ce = F.cross_entropy(out, y.argmax(dim=1), weight=weights, reduction="none")
            w = weights[y.argmax(dim=1)]
            cls = (ce * scored).sum() / (w * scored).sum().clamp(min=1e-6)
            logp = F.log_softmax(out, dim=1)
        else:
            bce = F.binary_cross_entropy_with_logits(
                out, y, pos_weight=weights[:, None], reduction="none"
            )
            cls = (bce * scored[:, None]).sum() / (n_scored * out.shape[1])
            logp = F.logsigmoid(out)
        diff = (logp[:, :, 1:] - logp.detach()[:, :, :-1]) ** 2
        smooth = (diff.clamp(max=tau2) * pair).sum() / n_pair
        cls_total = cls_total + cls
        smooth_total = smooth_total + smooth
    total = cls_total + float(settings["smooth_weight"]) * smooth_total
    return total, {"class_loss": cls_total.item(), "smooth_loss": smooth_total.item()}


# --------------------------------------------------------------------------------------------
# data


class _Data:
    """Training sequences as network inputs, with a global index of their scored frames."""

    def __init__(self, seqs: SequenceABC[Sequence], std: Standardizer, groups=None):
        self.z = [std.transform(s).T.copy() for s in seqs]  # [F+1, T]
        # [C + auxiliary heads, T]
        self.y = [with_auxiliary(s.y, groups).T.astype(np.float32).copy() for s in seqs]
        self.scored = [s.scored.copy() for s in seqs]
        idx = [(np.full(s.scored.sum(), i), np.flatnonzero(s.scored)) for i, s in enumerate(seqs)]
        self.seq_of = np.concatenate([a for a, _ in idx])
        self.pos_of = np.concatenate([b for _, b in idx])

    def batch(self, rng: np.random.Generator, n: int, crop: int):
        """``n`` crops of ``crop`` frames, each holding a scored frame drawn uniformly."""
        pick = rng.integers(len(self.seq_of), size=n)
        offsets = rng.integers(crop, size=n)
        n_in, n_cls = self.z[0].shape[0], self.y[0].shape[0]
        z = np.zeros((n, n_in, crop), np.float32)
        y = np.zeros((n, n_cls, crop), np.float32)
        scored = np.zeros((n, crop), bool)
        valid = np.zeros((n, crop), bool)
        for k, (j, off) in enumerate(zip(pick, offsets)):
            i = self.seq_of[j]
            length = self.z[i].shape[1]
            start = int(np.clip(self.pos_of[j] - off, 0, max(0, length - crop)))
            stop = min(length, start + crop)
            m = stop - start
            z[k, :, :m] = self.z[i][:, start:stop]
            y[k, :, :m] = self.y[i][:, start:stop]
            scored[k, :m] = self.scored[i][start:stop]
            valid[k, :m] = True
        return tuple(torch.from_numpy(a) for a in (z, y, scored, valid))


def fingerprint(seqs, columns, behaviours, exclusive, settings) -> str:
    h = hashlib.sha256()
    learnt = {k: v for k, v in settings.items() if k not in _RUNTIME}
    h.update(
        json.dumps(
            [list(columns), list(behaviours), bool(exclusive), learnt], sort_keys=True, default=str
        ).encode()
    )
    for s in seqs:
        for a in (s.frames, s.X, s.y, s.scored, s.missing):
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def lr_at(epoch: int, settings: dict) -> float:
    """Cosine decay from ``lr`` to 5% of it over the epochs."""
    t = epoch / max(1, int(settings["epochs"]))
    return float(settings["lr"]) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


# --------------------------------------------------------------------------------------------
# checkpoints and weights files


def save_checkpoint(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _resume(path: Path, fp: str, model, opt) -> tuple[int, list]:
    if not path.exists():
        return 0, []
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") != fp:
            log.info("checkpoint %s is for other data or settings: training from the start", path)
            return 0, []
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
    except Exception as e:  # truncated or foreign files: start again
        log.warning("checkpoint %s unreadable (%s): training from the start", path, e)
        return 0, []
    log.info("resuming from %s at epoch %d", path, int(state["epoch"]))
    return int(state["epoch"]), list(state["history"])


def _plain(settings: dict) -> dict:
    ok = (bool, int, float, str, type(None))
    return {str(k): v for k, v in settings.items() if isinstance(v, ok)}


def save_tcn(model: TCNModel, dest: PathLike) -> None:
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.net.state_dict().items()},
        "settings": _plain(model.settings),
        "columns": list(model.columns),
        **model.standardizer.to_dict(),  # mean, std (+ keep, n_columns)
        "behaviours": list(model.behaviours),
        "exclusive": bool(model.exclusive),
        "classes": list(model.classes),
        "history": [_plain(r) for r in model.history],
    }
    if model.auxiliary:
        doc["auxiliary"] = {k: list(v) for k, v in model.auxiliary.items()}
    with atomic_path(dest, suffix=".pt") as tmp:
        torch.save(doc, tmp)


def load_tcn(path: PathLike, columns: SequenceABC[str] | None = None) -> TCNModel:
    """A trained TCN from its weights file (``weights_only=True``: loading runs no code).

    With ``columns``, the feature schema it was trained on is checked against them."""
    path = Path(path)
    if not path.exists():
        raise EthoflowError(f"{path}: TCN weights file not found")
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors, truncated files, code in the pickle
        raise EthoflowError(f"{path}: not a loadable TCN weights file ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise EthoflowError(f"{path}: not an ethoflow behaviour TCN weights file (no {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise EthoflowError(f"{path}: TCN weights version {doc.get('version')}, expected {VERSION}")
    lack = [k for k in _WEIGHTS_KEYS if k not in doc]
    if lack:
        raise EthoflowError(f"{path}: TCN weights file lacks {lack}")
    check_columns(doc["columns"], columns, path)
    settings = {**DEFAULT_TCN, **doc["settings"]}
    keep, width = doc.get("keep"), doc.get("n_columns", len(doc["columns"]))
    if width != len(doc["columns"]) or (
        keep is not None
        and (len(keep) != len(doc["mean"]) or not all(0 <= int(i) < width for i in keep))
    ):
        raise EthoflowError(f"{path}: inconsistent input columns (keep, n_columns, mean)")
    std = Standardizer(doc["mean"], doc["std"], keep, width)
    exclusive = bool(doc["exclusive"])
    auxiliary = doc.get("auxiliary") or {}
    auxiliary_groups(auxiliary, doc["behaviours"], exclusive, where=f"{path}: auxiliary")
    settings["auxiliary"] = {str(k): list(v) for k, v in auxiliary.items()}
    net = build(settings, std.n_inputs, len(doc["classes"]) + len(auxiliary), exclusive)
    try:
        net.load_state_dict(doc["state_dict"])
    except RuntimeError as e:
        raise EthoflowError(
            f"{path}: weights do not fit the network of its settings ({e})"
        ) from None
    net.eval()
    return TCNModel(
        net,
        std,
        doc["columns"],
        doc["behaviours"],
        exclusive,
        settings,
        history=doc.get("history", []),
        source=str(path),
    )


# --------------------------------------------------------------------------------------------
# the model object


class TCNModel:
    """A trained TCN: ``predict(seqs)`` -> per sequence [T, n_classes] probabilities (its
    auxiliary heads, if any, are trained and not returned)."""

    def __init__(
        self, net, standardizer, columns, behaviours, exclusive, settings, *, history=(), source=""
    ):
        self.net = net.eval()
        self.standardizer = standardizer
        self.columns = list(columns)
        self.behaviours = list(behaviours)
        self.exclusive = bool(exclusive)
        self.classes = classes_of(self.behaviours, self.exclusive)
        self.settings = dict(settings)
        self.history = list(history)
        self.source = source

    @property
    def auxiliary(self) -> dict[str, list[str]]:
        """Auxiliary head name -> member behaviours (``settings["auxiliary"]``; {} without)."""
        return self.settings.get("auxiliary") or {}

    @torch.no_grad()
    def predict(self, seqs: SequenceABC[Sequence], chunk: int = 262144, device="cpu") -> list:
        """Probabilities of the last stage, float32 [T, n_classes] per sequence.

        Long sequences run in chunks with ``context`` frames of overlap each side, which gives
        the same outputs as one pass over the whole sequence."""
        net = self.net.to(device).eval()
        ctx = net.context
        out = []
        n = len(self.classes)  # the auxiliary heads' outputs, after them, are dropped
        for s in seqs:
            z = torch.from_numpy(self.standardizer.transform(s).T.copy())
            T = z.shape[1]
            probs = np.zeros((T, n), np.float32)
            for a in range(0, T, chunk):
                b = min(T, a + chunk)
                lo, hi = max(0, a - ctx), min(T, b + ctx)
                logits = net(z[None, :, lo:hi].to(device))[-1]
                p = net.activate(logits)[0].T.cpu().numpy()
                probs[a:b] = p[a - lo : b - lo, :n]
            out.append(probs)
        return out


# --------------------------------------------------------------------------------------------
# training


def _epoch(net, opt, data, weights, settings, epoch, dev) -> dict:
    seed = int(settings["seed"])
    rng = np.random.default_rng([seed, epoch])
    torch.manual_seed(int(rng.integers(2**31)))
    crop, bs = int(settings["crop"]), int(settings["batch_size"])
    n_crops = max(bs, math.ceil(len(data.seq_of) / crop))
    lr = lr_at(epoch, settings)
    for g in opt.param_groups:
        g["lr"] = lr
    net.train()
    t0 = time.perf_counter()
    sums = {"loss": 0.0, "class_loss": 0.0, "smooth_loss": 0.0}
    # small label sets: at least `min_batches` steps per epoch (one pass is one step otherwise)
    n_batches = max(math.ceil(n_crops / bs), int(settings.get("min_batches", 1)))
    for _ in range(n_batches):
        z, y, scored, valid = (t.to(dev) for t in data.batch(rng, bs, crop))
        logits = net(z)
        loss, parts = tcn_loss(net, logits, y, scored, valid, weights, settings)
        if not torch.isfinite(loss):
            raise EthoflowError(f"TCN training diverged at epoch {epoch + 1} (loss {loss.item()})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sums["loss"] += loss.item()
        for k, v in parts.items():
            sums[k] += v
    row = {"epoch": epoch + 1, "lr": lr, **{k: v / n_batches for k, v in sums.items()}}
    row["seconds"] = time.perf_counter() - t0
    return row


def train_tcn(
    train_seqs: SequenceABC[Sequence],
    *,
    columns: SequenceABC[str],
    behaviours: SequenceABC[str],
    exclusive: bool,
    settings: dict | None = None,
    workdir: PathLike,
    dest: PathLike | None = None,
    progress=None,
    device: str = "cpu",
) -> TCNModel:
    """Train a TCN on the labelled frames of ``train_seqs``; write its weights file to ``dest``.

    Checkpoints go to ``workdir/checkpoint.pt`` (removed once the weights are written) and a
    run resumes from one whose data and settings are the same. Returns the model (with its
    per-epoch ``history``)."""
    s = {**DEFAULT_TCN, **(settings or {})}
    seqs = labelled(train_seqs)
    if not seqs:
        raise EthoflowError("TCN training: no sequence has scored frames")
    columns, behaviours = list(columns), list(behaviours)
    n_classes = len(classes_of(behaviours, exclusive))
    if seqs[0].X.shape[1] != len(columns) or seqs[0].y.shape[1] != n_classes:
        raise EthoflowError("TCN training: sequences do not match the columns/behaviours given")
    if s["threads"]:
        torch.set_num_threads(int(s["threads"]))
    dev = torch.device(device)
    keep = None
    if not s.get("window_inputs", True):  # the network's receptive field is its window
        keep = [i for i, c in enumerate(columns) if not is_window_column(c)]
        if not keep:
            raise EthoflowError("TCN training: window_inputs false, and every column is a window")
    groups = auxiliary_groups(s.get("auxiliary"), behaviours, exclusive)
    std = Standardizer.fit(seqs, keep)
    data = _Data(seqs, std, groups)
    for j, (name, g) in enumerate(groups.items(), start=n_classes):
        on = sum(int(y[j, sc].sum()) for y, sc in zip(data.y, data.scored))
        members = " | ".join(behaviours[i] for i in g)
        log.info("tcn auxiliary head %s = %s: %d scored frames on", name, members, on)
    weights = class_weights(seqs, exclusive, float(s["max_class_weight"]), groups).to(dev)
    torch.manual_seed(int(s["seed"]))
    net = build(s, std.n_inputs, n_classes + len(groups), exclusive).to(dev)
    opt = torch.optim.AdamW(
        net.parameters(), lr=float(s["lr"]), weight_decay=float(s["weight_decay"])
    )
    fp = fingerprint(seqs, columns, behaviours, exclusive, s)
    ckpt = Path(workdir) / CHECKPOINT
    start, history = _resume(ckpt, fp, net, opt)
    total = int(s["epochs"])
    every = max(1, int(s["checkpoint_every"]))
    bar = tqdm(
        range(start, total),
        initial=start,
        total=total,
        desc="train tcn",
        file=progress,
        mininterval=5,
        disable=progress is None,
    )
    for epoch in bar:
        row = _epoch(net, opt, data, weights, s, epoch, dev)
        history.append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}")
        log.info(
            "tcn epoch %d/%d: loss %.4f (class %.4f, smooth %.4f), lr %.2g, %.1f s",
            row["epoch"],
            total,
            row["loss"],
            row["class_loss"],
            row["smooth_loss"],
            row["lr"],
            row["seconds"],
        )
        if (epoch + 1) % every == 0 and epoch + 1 < total:
            state = {
                "epoch": epoch + 1,
                "fingerprint": fp,
                "model": net.state_dict(),
                "optimizer": opt.state_dict(),
                "history": history,
            }
            save_checkpoint(ckpt, state)
    s["auxiliary"] = {k: [behaviours[i] for i in g] for k, g in groups.items()}
    model = TCNModel(
        net.cpu(), std, columns, behaviours, exclusive, s, history=history, source=str(dest or "")
    )
    if dest is not None:
        save_tcn(model, dest)
    ckpt.unlink(missing_ok=True)
    return model
