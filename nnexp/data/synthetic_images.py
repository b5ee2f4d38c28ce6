"""Tiny, learnable image-folder generator (PNG via Pillow) for tests and documentation examples."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def _cat(draw: ImageDraw.ImageDraw, w: int, h: int, rng: np.random.Generator) -> None:
    """Bright round face with two triangular ears, jittered in position and brightness."""
    cx = w * (0.5 + rng.uniform(-0.1, 0.1))
    cy = h * (0.6 + rng.uniform(-0.08, 0.08))
    r = min(w, h) * rng.uniform(0.22, 0.3)
    shade = int(rng.integers(200, 256))
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=shade)
    for side in (-1, 1):
        x0 = cx + side * r * 0.9
        x1 = cx + side * r * 0.2
        ear = [(x0, cy - r * 0.3), (x1, cy - r * 0.8), ((x0 + x1) / 2, cy - r * 1.9)]
        draw.polygon(ear, fill=shade)


def _stripes(draw: ImageDraw.ImageDraw, w: int, h: int, rng: np.random.Generator) -> None:
    """Horizontal or vertical bright stripes with random period and phase."""
    period = int(rng.integers(3, 6))
    phase = int(rng.integers(0, period))
    shade = int(rng.integers(170, 231))
    vertical = bool(rng.integers(0, 2))
    for k in range(phase, w if vertical else h, period):
        box = (k, 0, k + period // 2 - 0.01, h) if vertical else (0, k, w, k + period // 2 - 0.01)
        draw.rectangle(box, fill=shade)


def _checker(draw: ImageDraw.ImageDraw, w: int, h: int, rng: np.random.Generator) -> None:
    """Checkerboard with random cell size."""
    cell = int(rng.integers(2, 5))
    shade = int(rng.integers(170, 231))
    for i in range(0, w, cell):
        for j in range(0, h, cell):
            if (i // cell + j // cell) % 2 == 0:
                draw.rectangle((i, j, i + cell - 1, j + cell - 1), fill=shade)


def _ring(draw: ImageDraw.ImageDraw, w: int, h: int, rng: np.random.Generator) -> None:
    """Hollow ring near the centre."""
    r = min(w, h) * rng.uniform(0.3, 0.42)
    cx, cy = w / 2 + rng.uniform(-1, 1), h / 2 + rng.uniform(-1, 1)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=int(rng.integers(190, 256)), width=2)


_PATTERNS = (_cat, _stripes, _checker, _ring)


def make_image_folder(
    root: str | Path,
    classes: Sequence[str] = ("cat", "not_cat"),
    per_class: int = 8,
    size: tuple[int, int] = (16, 16),
    seed: int = 0,
    mode: str = "L",
) -> Path:
    """Write `per_class` PNGs of size (W, H) per class under root/<class>/; returns root.

    Class i uses pattern i mod 4 (cat face with ears, stripes, checkerboard, ring) on a dark,
    noisy background, so classes are easy to tell apart. mode "RGB" tints each class differently.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    w, h = int(size[0]), int(size[1])
    for ci, cname in enumerate(classes):
        folder = root / cname
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            bg = rng.integers(0, 60, size=(h, w)).astype(np.uint8)
            img = Image.fromarray(bg, mode="L")
            _PATTERNS[ci % len(_PATTERNS)](ImageDraw.Draw(img), w, h, rng)
            if mode != "L":
                tint = (1.0, 0.8 + 0.2 * (ci % 2), 0.6 + 0.4 * ((ci + 1) % 2))
                grey = np.asarray(img, dtype=np.float64)[..., None]
                rgb = np.clip(grey * np.array(tint), 0, 255).astype(np.uint8)
                img = Image.fromarray(rgb, mode="RGB").convert(mode)
            img.save(folder / f"{cname}_{k:03d}.png")
    return root
