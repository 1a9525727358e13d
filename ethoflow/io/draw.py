"""Identity colours, shared by every picture that shows animals (overlays, figures, reports)."""

from __future__ import annotations

from collections.abc import Sequence


def identity_colors(identities: Sequence[str]) -> list[tuple[float, float, float]]:
    """One fixed RGB colour (floats in 0..1) per identity, by its index in ``identities``."""
    import matplotlib

    n = len(identities)
    if n <= 10:
        base = matplotlib.colormaps["tab10"].colors
    elif n <= 20:
        base = matplotlib.colormaps["tab20"].colors
    else:
        cmap = matplotlib.colormaps["hsv"]
        base = [cmap(i / n)[:3] for i in range(n)]
    return [tuple(float(c) for c in base[i][:3]) for i in range(n)]


def identity_colors_255(identities: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """``{identity: (r, g, b)}`` in 0..255 of :func:`identity_colors`."""
    return {
        name: tuple(int(round(255 * c)) for c in rgb)
        for name, rgb in zip(identities, identity_colors(identities), strict=True)
    }
