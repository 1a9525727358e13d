"""Painting the demo frames: arena floor, tails, contact shadows, the animals and the camera."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ethoflow.demo.scene import Arena, Geom, Scene, smooth_noise

_FLOOR = np.array([156.0, 150.0, 138.0], dtype=np.float32)
_WALL = np.array([72.0, 74.0, 80.0], dtype=np.float32)


def background(size: int, arena: Arena, rng: np.random.Generator) -> np.ndarray:
    s = size / 256
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    d = arena.sdf(np.stack([xx, yy], axis=-1))
    fine = smooth_noise(rng, (size, size), 0.9 * s)
    coarse = smooth_noise(rng, (size, size), 9 * s)
    specks = (rng.random((size, size)) < 0.004).astype(np.float32)
    specks = cv2.GaussianBlur(specks, (0, 0), 0.8 * s)
    specks *= 0.35 / max(float(specks.max()), 1e-6)
    tint = smooth_noise(rng, (size, size), 14 * s)
    floor = _FLOOR[None, None, :] * (1 + 0.06 * fine + 0.05 * coarse - specks)[..., None]
    floor = floor + (np.array([4.0, 0.0, -4.0], dtype=np.float32) * tint[..., None])
    # soft shadow cast by the wall onto the floor edge
    floor *= (1 - 0.3 * np.exp(np.minimum(d, 0) / (5 * s)))[..., None]
    wall = _WALL[None, None, :] * (1 + 0.04 * fine + 0.08 * (yy / size - 0.5))[..., None]
    edge = np.clip(0.5 - d, 0, 1)[..., None]  # anti-aliased arena outline
    img = floor * edge + wall * (1 - edge)
    r2 = ((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / (size / 2) ** 2
    img *= (1 - 0.12 * r2)[..., None]
    return img.astype(np.float32)


def paint(canvas: np.ndarray, scene: Scene, geoms: list[Geom], full: np.ndarray) -> None:
    s = scene.s
    # tails lie on the floor, under every body (and end at the wall)
    layer = canvas.copy()
    for i in range(scene.n):
        body, look = scene.bodies[i], scene.looks[i]
        u = -0.95 * body.a - np.linspace(0, body.tail_len, 14)
        t = (-0.95 * body.a - u) / body.tail_len
        amp = 0.12 * body.tail_len * t
        v = 0.5 * scene.bend[i] * u * u + amp * np.sin(scene.tail_phase[i] - 5.0 * t)
        c, sn = math.cos(scene.heading[i]), math.sin(scene.heading[i])
        x = scene.pos[i, 0] + u * c - v * sn
        y = scene.pos[i, 1] + u * sn + v * c
        pts = np.round(np.stack([x, y], 1) * 16).astype(np.int32)
        thick = max(1, int(round(2 * s)))
        cv2.polylines(layer, [pts[:8]], False, look.tail_color, thick, cv2.LINE_8, 4)
        cv2.polylines(layer, [pts[7:]], False, look.tail_color, max(1, thick - 1), cv2.LINE_8, 4)
    np.copyto(canvas, layer, where=scene.floor[..., None])
    # soft contact shadow
    shadow = full.any(0).astype(np.float32)
    off = max(1, int(round(2 * s)))
    shadow = np.roll(shadow, (off, off // 2 + 1), axis=(0, 1))
    shadow = cv2.GaussianBlur(shadow, (0, 0), 2.5 * s)
    canvas *= (1 - 0.35 * shadow)[..., None]
    for i in scene.order():
        g, body, look = geoms[i], scene.bodies[i], scene.looks[i]
        m = g.mask
        u, v = g.u[m], g.v[m]
        rb2, rh2 = g.rb2[m], g.rh2[m]
        r2 = np.minimum(np.minimum(rb2, rh2), 1.0)
        shade = (0.72 + 0.28 * (1 - r2))[:, None]
        c = (body.tex.shape[0] - 1) // 2
        iu = np.clip(np.round(u).astype(np.int32) + c, 0, 2 * c)
        iv = np.clip(np.round(v).astype(np.int32) + c, 0, 2 * c)
        tex = body.tex[iv, iu]
        col = np.asarray(look.color, dtype=np.float32)[None, :].repeat(len(u), 0)
        if look.pattern in ("fur", "plain"):
            col *= (1 + look.strength * tex)[:, None]
        elif look.pattern == "stripes":
            period = 0.42 * body.a
            w = np.clip((np.cos(2 * math.pi * u / period) - 0.15) * 2.5, 0, 1)
            w *= (u < body.uh - 0.5 * body.ha) & (rb2 <= 1)
            col = col * (1 - w[:, None]) + np.asarray(look.mark_color, np.float32) * w[:, None]
            col *= (1 + 0.06 * tex)[:, None]
        elif look.pattern == "patches":
            w = np.clip((tex - 0.1) * 3, 0, 1)
            col = col * (1 - w[:, None]) + np.asarray(look.mark_color, np.float32) * w[:, None]
        eye_r = (0.14 * body.ha + 0.5 * s) ** 2
        eu = body.uh + 0.35 * body.ha
        for ev in (-0.55 * body.hb, 0.55 * body.hb):
            eye = (u - eu) ** 2 + (v - ev) ** 2 <= eye_r
            col[eye] = look.eye_color
        win = canvas[g.ys, g.xs]
        win[m] = col * shade
        canvas[g.ys, g.xs] = win


class Camera:
    """Turns the scene into video frames: paint, lens blur, global flicker and sensor noise."""

    def __init__(self, background: np.ndarray, rng: np.random.Generator):
        self.background, self.rng = background, rng
        self.flicker = 0.0

    def shoot(self, scene: Scene, geoms: list[Geom], full: np.ndarray) -> np.ndarray:
        """The next frame (HxWx3 uint8) of the scene as laid out by ``scene.resolve()``."""
        canvas = self.background.copy()
        paint(canvas, scene, geoms, full)
        canvas = cv2.GaussianBlur(canvas, (0, 0), 0.6 * scene.s + 0.2)
        self.flicker = 0.9 * self.flicker + self.rng.normal(0, 0.006)
        canvas *= 1 + self.flicker
        canvas += self.rng.standard_normal(canvas.shape, dtype=np.float32) * 3.5
        return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
