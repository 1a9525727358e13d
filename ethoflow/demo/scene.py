"""The demo scene: how the animals look and how they move in the arena.

The animals differ the way real animals do: identity 0 is large and dark with coarse fur,
identity 1 medium and light, identity 2 small, tan and striped, identity 3 (if asked for) medium
and piebald (dark with white patches). Each is an elliptical body plus a smaller head ellipse in
front; a thin tail is painted on the floor under every body and is not part of the masks (as most
labelling protocols leave tails out).

Motion is smooth (turn rate and speed follow smoothed random processes) and episodic: an animal
explores, now and then rests, or approaches another (one at least ``_MIN_APPROACH`` of the frame
away) and either investigates it (sniffs it for a second or two) and leaves, or walks over it (it
goes on top before the contact; the depth order changes only while an animal touches no other).
These modes are the demo's behaviour truth (:data:`BEHAVIOURS`): what the generator meant each
animal to do, frame by frame, not thresholds on its motion. Animals turn away from walls they
head into. A short-range repulsion limits how deep animals overlap, so every animal keeps at
least ``MIN_VISIBLE`` of its body visible in every frame (in practice at least
``_TARGET_VISIBLE``) and no animal is enclosed by another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ethoflow.io import EthoflowError

MIN_VISIBLE = 0.4  # guaranteed visible fraction of every animal's full body, every frame
_TARGET_VISIBLE = 0.45  # the repulsion keeps visible fractions above this (margin over the above)
_PAIR_LIMIT = 0.55  # at most this share of the smaller of two animals lies inside the other

EXPLORE, APPROACH, INTERACT, LEAVE, CROSS, REST = range(6)
#: The behaviour each mode is written as in the demo's behaviour truth, indexed by mode.
BEHAVIOURS = ("explore", "approach", "investigate", "leave", "cross", "rest")
#: Modes directed at another animal (the truth names it as the partner).
SOCIAL = (APPROACH, INTERACT, LEAVE, CROSS)
_MIN_APPROACH = 0.3  # an approach starts at least this share of the frame size from its target
_APPROACH_RATE = 30.0  # frames (at 30 fps) between approach attempts on average, exploring
_REST_RATE = 150.0  # frames between rests on average, exploring
_MIN_EXPLORE = (30, 60)  # frames (at 30 fps) an explore bout lasts before a rest or approach


@dataclass(frozen=True)
class Look:
    """Appearance of one identity; lengths in pixels at frame size 256."""

    length: float  # nose to rump
    width: float  # body width / body length of the body ellipse (ratio of semi-axes b / a)
    color: tuple[float, float, float]
    pattern: str  # fur | plain | stripes | patches
    strength: float  # texture contrast
    mark_color: tuple[float, float, float] = (0.0, 0.0, 0.0)
    tail_color: tuple[float, float, float] = (170.0, 135.0, 130.0)
    eye_color: tuple[float, float, float] = (25.0, 18.0, 18.0)


LOOKS = (
    Look(54, 0.52, (52, 47, 45), "fur", 0.22, tail_color=(60, 52, 50), eye_color=(10, 8, 8)),
    Look(42, 0.50, (228, 224, 216), "plain", 0.05, tail_color=(215, 170, 165)),
    Look(30, 0.52, (200, 162, 110), "stripes", 0.0, mark_color=(80, 60, 44)),
    Look(
        38,
        0.55,
        (84, 68, 58),
        "patches",
        0.0,
        mark_color=(232, 230, 224),
        tail_color=(120, 100, 95),
    ),
)


@dataclass
class Body:
    """Per-identity geometry in pixels at the requested frame size."""

    a: float  # body semi-axes
    b: float
    uh: float  # head centre along the body axis
    ha: float  # head semi-axes
    hb: float
    extent: float  # radius of a disc around the body centre holding body and head
    tail_len: float
    tex: np.ndarray  # texture in body coordinates, indexed [v + c, u + c]


class Arena:
    """Rounded-square arena floor; signed distance < 0 inside."""

    def __init__(self, size: int):
        self.size = size
        m = 0.045 * size
        self.c = np.array([size / 2, size / 2])
        self.half = size / 2 - m
        self.r = 0.14 * size

    def sdf(self, p: np.ndarray) -> np.ndarray:
        q = np.abs(p - self.c) - (self.half - self.r)
        outside = np.linalg.norm(np.maximum(q, 0.0), axis=-1)
        inside = np.minimum(q.max(axis=-1), 0.0)
        return outside + inside - self.r

    def normal(self, p: np.ndarray) -> np.ndarray:
        e = 0.25
        g = np.array(
            [
                self.sdf(p + [e, 0]) - self.sdf(p - [e, 0]),
                self.sdf(p + [0, e]) - self.sdf(p - [0, e]),
            ]
        )
        n = np.linalg.norm(g)
        return g / n if n > 0 else (self.c - p) / max(np.linalg.norm(self.c - p), 1e-9)


@dataclass
class Geom:
    """One animal's pixels (body + head) in a window of the frame, with its body coordinates."""

    ys: slice
    xs: slice
    mask: np.ndarray  # body + head, local window
    u: np.ndarray  # body coordinates (along, across; the across one follows the bend)
    v: np.ndarray
    rb2: np.ndarray  # normalised squared radius in the body / head ellipse
    rh2: np.ndarray


def _wrap(x: float) -> float:
    return (x + math.pi) % (2 * math.pi) - math.pi


def smooth_noise(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    n = rng.standard_normal(shape, dtype=np.float32)
    n = cv2.GaussianBlur(n, (0, 0), max(sigma, 0.3))
    return (n - n.mean()) / (n.std() + 1e-6)


def make_bodies(looks: list[Look], scale: float, rng: np.random.Generator) -> list[Body]:
    """Body geometry and fur texture of each look at frame size ``256 * scale``."""
    out = []
    for look in looks:
        length = look.length * scale
        a = length / 2.37  # rump at -a, head front at uh + ha = 1.37 a
        b = look.width * a
        ha, hb = 0.45 * a, 0.66 * b
        extent = 1.4 * a + 2
        c = int(math.ceil(extent)) + 2
        if look.pattern == "patches":
            tex = smooth_noise(rng, (2 * c + 1, 2 * c + 1), 3.5 * scale)
        else:
            tex = smooth_noise(rng, (2 * c + 1, 2 * c + 1), 0.8 * scale)
        out.append(Body(a, b, 0.92 * a, ha, hb, extent, 0.85 * length, tex))
    return out


class Scene:
    """State and motion of the animals."""

    def __init__(self, bodies, looks, size, fps, arena, rng):
        self.bodies, self.looks, self.size, self.arena, self.rng = bodies, looks, size, arena, rng
        n = len(bodies)
        self.n = n
        self.s = size / 256
        self.dt = 30.0 / fps
        self.v0 = 2.0 * self.s
        self.pos = np.zeros((n, 2))
        self.heading = rng.uniform(-math.pi, math.pi, n)
        self.omega = np.zeros(n)
        self.speed = self.v0 * rng.uniform(0.5, 1.2, n)
        self.pace = np.zeros(n)
        self.bend = np.zeros(n)
        self.tail_phase = rng.uniform(0, 2 * math.pi, n)
        self.depth = rng.permutation(n).astype(float)
        self.mode = np.full(n, EXPLORE)
        self.target = np.zeros(n, dtype=int)
        self.timer = np.zeros(n, dtype=int)
        self.crossing = np.zeros(n, dtype=bool)
        yy, xx = np.mgrid[0:size, 0:size] + 0.5
        self.floor = arena.sdf(np.stack([xx, yy], axis=-1)) < 0
        self._place()

    def _place(self):
        for i, body in enumerate(self.bodies):
            for _ in range(10000):
                p = self.rng.uniform(0, self.size, 2)
                if self.arena.sdf(p) > -(body.extent + 0.08 * self.size):
                    continue
                ok = all(
                    np.linalg.norm(p - self.pos[j]) > body.extent + self.bodies[j].extent + 4
                    for j in range(i)
                )
                if ok:
                    self.pos[i] = p
                    break
            else:  # pragma: no cover - arena far too small for the animals
                raise EthoflowError(f"demo: no room for {self.n} animals in a {self.size} px arena")

    def _keep_inside(self, i: int, reflect: bool) -> None:
        lim = -self.bodies[i].extent
        d = float(self.arena.sdf(self.pos[i]))
        if d > lim:
            n = self.arena.normal(self.pos[i])
            self.pos[i] -= (d - lim + 0.01) * n
            if reflect:
                f = np.array([math.cos(self.heading[i]), math.sin(self.heading[i])])
                if f @ n > 0:
                    f = f - 2 * (f @ n) * n
                    self.heading[i] = math.atan2(f[1], f[0])
                    self.omega[i] = 0.0

    def _explore(self, i: int) -> None:
        """Animal ``i`` goes back to exploring, for at least ``_MIN_EXPLORE`` frames (30 fps)."""
        self.mode[i] = EXPLORE
        self.timer[i] = int(self.rng.integers(*_MIN_EXPLORE) / self.dt) + 1

    def step(self, touching: set[tuple[int, int]]) -> None:
        """Advance every animal one frame: behaviour mode, steering, walls, speed, bend, tail."""
        rng, dt, v0 = self.rng, self.dt, self.v0
        zone = 0.1 * self.size
        for i in range(self.n):
            others = [j for j in range(self.n) if j != i]
            self.pace[i] = 0.96 * self.pace[i] + rng.normal(0, 0.12)
            wander = rng.normal(0, 0.03)
            mode, tgt = self.mode[i], self.target[i]
            steer = None
            if mode == EXPLORE:
                speed_target = v0 * float(np.clip(1 + 0.4 * self.pace[i], 0.5, 1.3))
                self.timer[i] -= 1  # an explore bout lasts a while before anything else starts
                far = [
                    j
                    for j in others
                    if np.linalg.norm(self.pos[j] - self.pos[i]) > _MIN_APPROACH * self.size
                ]
                if self.timer[i] > 0:
                    pass
                elif rng.random() < dt / _REST_RATE:
                    self.mode[i], self.timer[i] = REST, int(rng.integers(30, 60) / dt) + 1
                elif far and rng.random() < dt / _APPROACH_RATE:
                    self.mode[i], self.target[i], self.timer[i] = APPROACH, rng.choice(far), 0
                    # some approaches end in walking over the other animal: go on top now,
                    # while touching nobody
                    busy = {k for p in touching for k in p}
                    self.crossing[i] = i not in busy and rng.random() < 0.6
                    if self.crossing[i]:
                        self.depth[i] = self.depth.max() + 1
                        self.depth = np.argsort(np.argsort(self.depth)).astype(float)
            elif mode == APPROACH:
                delta = self.pos[tgt] - self.pos[i]
                steer = math.atan2(delta[1], delta[0])
                speed_target = 1.8 * v0
                self.timer[i] += 1
                if (min(i, tgt), max(i, tgt)) in touching:
                    if self.crossing[i]:
                        reach = self.bodies[i].extent + self.bodies[tgt].extent
                        self.mode[i], self.timer[i] = CROSS, int(reach / (v0 * dt)) + 1
                    else:
                        self.mode[i], self.timer[i] = INTERACT, int(rng.integers(30, 60) / dt) + 1
                elif self.timer[i] * dt > 150:
                    self._explore(i)
            elif mode == INTERACT:
                speed_target = 0.25 * v0
                wander = rng.normal(0, 0.05)
                self.timer[i] -= 1
                if self.timer[i] <= 0:
                    self.mode[i], self.timer[i] = LEAVE, int(rng.integers(30, 50) / dt) + 1
            elif mode == CROSS:
                speed_target = v0
                wander = rng.normal(0, 0.015)
                self.timer[i] -= 1
                if self.timer[i] <= 0:
                    self._explore(i)
            elif mode == REST:
                speed_target = 0.0
                wander = 0.0
                self.timer[i] -= 1
                if self.timer[i] <= 0:
                    self._explore(i)
            else:  # LEAVE
                delta = self.pos[i] - self.pos[tgt]
                steer = math.atan2(delta[1], delta[0])
                speed_target = 1.8 * v0
                self.timer[i] -= 1
                if self.timer[i] <= 0:
                    self._explore(i)
            visited = any(
                (min(i, j), max(i, j)) in touching
                and self.mode[j] in (APPROACH, INTERACT, CROSS)
                and self.target[j] == i
                for j in others
            )
            if visited and self.mode[i] in (EXPLORE, REST):
                # sought out or walked over: it holds still (rests) until left alone
                self.mode[i], self.timer[i] = REST, max(int(self.timer[i]), int(10 / dt) + 1)
                speed_target = 0.0
            elif self.mode[i] in (EXPLORE, LEAVE):
                # not seeking company: move off any animal it bumps into
                near = [j for j in others if (min(i, j), max(i, j)) in touching]
                if visited:
                    speed_target *= 0.4
                elif near:
                    # it leaves the animal it bumped into (an exploring one for a second)
                    j = min(near, key=lambda j: np.linalg.norm(self.pos[j] - self.pos[i]))
                    delta = self.pos[i] - self.pos[j]
                    steer = math.atan2(delta[1], delta[0])
                    if self.mode[i] == EXPLORE:
                        self.mode[i], self.target[i] = LEAVE, j
                        self.timer[i] = int(rng.integers(30, 45) / dt) + 1
            turn = 0.0
            if steer is not None:
                turn = float(np.clip(0.35 * _wrap(steer - self.heading[i]), -0.25, 0.25))
            # walls: when heading into a nearby wall, turn towards the mirrored heading
            body = self.bodies[i]
            d = float(self.arena.sdf(self.pos[i]))
            w = float(np.clip((d + body.extent + zone) / zone, 0, 1))
            if w > 0:
                f = np.array([math.cos(self.heading[i]), math.sin(self.heading[i])])
                n = self.arena.normal(self.pos[i])
                if f @ n > 0:
                    g = f - 2 * (f @ n) * n
                    err = _wrap(math.atan2(g[1], g[0]) - self.heading[i])
                    turn = (1 - w) * turn + w * float(np.clip(0.5 * err, -0.3, 0.3))
                    speed_target *= 1 - 0.3 * w * abs(err) / math.pi
            self.omega[i] = 0.8 * self.omega[i] + 0.2 * turn + wander
            self.omega[i] = float(np.clip(self.omega[i], -0.25, 0.25))
            keep = 0.6 if self.mode[i] == REST else 0.85  # a resting animal stops short
            self.speed[i] = keep * self.speed[i] + (1 - keep) * speed_target
            self.heading[i] = _wrap(self.heading[i] + self.omega[i] * dt)
            f = np.array([math.cos(self.heading[i]), math.sin(self.heading[i])])
            self.pos[i] += self.speed[i] * dt * f
            curv = self.omega[i] / max(self.speed[i] * dt, 0.7 * self.s) * 0.6
            curv = float(np.clip(curv, -0.5 / body.a, 0.5 / body.a))
            self.bend[i] = 0.75 * self.bend[i] + 0.25 * curv
            self.tail_phase[i] += (0.2 + 0.25 * self.speed[i] / max(v0, 1e-6)) * dt
            self._keep_inside(i, reflect=True)

    def behaviour(self, i: int) -> tuple[str, int | None]:
        """What animal ``i`` is doing now (a name of :data:`BEHAVIOURS`) and with whom."""
        mode = int(self.mode[i])
        return BEHAVIOURS[mode], (int(self.target[i]) if mode in SOCIAL else None)

    def geometry(self, i: int) -> Geom:
        """Pixels and body coordinates of animal ``i`` where it stands now."""
        body = self.bodies[i]
        px, py = self.pos[i]
        r = body.extent
        x0, x1 = max(int(px - r), 0), min(int(px + r) + 2, self.size)
        y0, y1 = max(int(py - r), 0), min(int(py + r) + 2, self.size)
        xs = np.arange(x0, x1, dtype=np.float32) + 0.5 - px
        ys = np.arange(y0, y1, dtype=np.float32) + 0.5 - py
        c, s = math.cos(self.heading[i]), math.sin(self.heading[i])
        u = xs[None, :] * c + ys[:, None] * s
        v = -xs[None, :] * s + ys[:, None] * c
        v = v - 0.5 * self.bend[i] * u * u
        rb2 = (u / body.a) ** 2 + (v / body.b) ** 2
        rh2 = ((u - body.uh) / body.ha) ** 2 + (v / body.hb) ** 2
        mask = (rb2 <= 1) | (rh2 <= 1)
        return Geom(slice(y0, y1), slice(x0, x1), mask, u, v, rb2, rh2)

    def order(self) -> list[int]:
        """Drawing order, back to front."""
        return sorted(range(self.n), key=lambda i: (self.depth[i], i))

    def layout(self):
        """Geometry, full masks, label map (-1 = floor) and visible fractions of the animals."""
        geoms = [self.geometry(i) for i in range(self.n)]
        full = np.zeros((self.n, self.size, self.size), dtype=bool)
        label = np.full((self.size, self.size), -1, dtype=np.int8)
        for i, g in enumerate(geoms):
            full[i, g.ys, g.xs] = g.mask
        for i in self.order():
            label[full[i]] = i
        areas = full.reshape(self.n, -1).sum(1)
        visible = np.bincount(label.ravel() + 1, minlength=self.n + 1)[1:]
        return geoms, full, label, visible / np.maximum(areas, 1), areas

    def resolve(self):
        """Push overlapping animals apart until every overlap is within the limits."""
        step = 0.75 * self.s + 0.25
        for _ in range(400):
            geoms, full, label, frac, areas = self.layout()
            worst, pair = (0.0, 0), None
            for i in range(self.n):
                for j in range(i + 1, self.n):
                    ov = int(np.count_nonzero(full[i] & full[j]))
                    if not ov:
                        continue
                    lo = i if (self.depth[i], i) < (self.depth[j], j) else j
                    excess = max(
                        _TARGET_VISIBLE - frac[lo],
                        ov / max(min(areas[i], areas[j]), 1) - _PAIR_LIMIT,
                    )
                    # worst violation first; of equal ones, the largest overlap
                    excess = (float(excess), ov)
                    if excess[0] > 0 and excess > worst:
                        worst, pair = excess, (i, j)
            if pair is None:
                return geoms, full, label, frac
            i, j = pair
            delta = self.pos[i] - self.pos[j]
            n = np.linalg.norm(delta)
            if n < 1e-6:
                delta, n = np.array([math.cos(self.heading[i]), math.sin(self.heading[i])]), 1.0
            delta = delta / n
            self.pos[i] += step * delta
            self.pos[j] -= step * delta
            self._keep_inside(i, reflect=False)
            self._keep_inside(j, reflect=False)
        raise EthoflowError("demo: could not separate overlapping animals")  # pragma: no cover

    def touching(self, full: np.ndarray, dilate: int) -> set[tuple[int, int]]:
        """Pairs ``(i, j)``, ``i < j``, whose full masks grown by ``dilate`` px meet."""
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        grown = [cv2.dilate(m.astype(np.uint8), k).astype(bool) for m in full]
        return {
            (i, j)
            for i in range(self.n)
            for j in range(i + 1, self.n)
            if np.any(grown[i] & grown[j])
        }

    def shuffle_depth(self, touching: set[tuple[int, int]]) -> None:
        """An animal touching no other may climb over / slip under others from now on."""
        busy = {i for p in touching for i in p}
        for i in range(self.n):
            if i not in busy and self.rng.random() < 0.02 * self.dt:
                self.depth[i] = self.rng.uniform(0, self.n)
