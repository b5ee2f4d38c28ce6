"""Drawn pictures for "is there a cat in this picture?": cat faces, and things that are not cats
(dogs, houses, trees, suns, cars, flowers), in a class-per-folder set that `data=images` reads.

Every picture is drawn with Pillow from a seeded generator (no download): a cat's pointed ears,
slit eyes and whiskers against a dog's floppy ears and round nose, and objects, each with random
colours, size, place and background, so that a network has to learn the cat, not a colour.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("cat", "not_cat")
SUPERSAMPLE = 3  # drawn larger, then shrunk: smooth edges

Colour = tuple[int, int, int]
Painter = Callable[[ImageDraw.ImageDraw, float, float, float, np.random.Generator], None]

FURS: tuple[Colour, ...] = ((230, 140, 50), (120, 120, 125), (40, 40, 45), (235, 230, 220),
                            (160, 110, 70), (200, 170, 120))


def _jitter(rng: np.random.Generator, colour: Colour, amount: int = 25) -> Colour:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255))  # type: ignore
                 for c in colour)


def _darker(colour: Colour, factor: float = 0.6) -> Colour:
    return tuple(int(c * factor) for c in colour)  # type: ignore[return-value]


def _whiskers(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, colour: Colour) -> None:
    width = max(1, int(r * 0.04))
    for side in (-1, 1):
        for k in (-1, 0, 1):
            start = (cx + side * 0.25 * r, cy + 0.35 * r + k * 0.06 * r)
            end = (cx + side * 1.25 * r, cy + 0.25 * r + k * 0.2 * r)
            draw.line([start, end], fill=colour, width=width)


def draw_cat(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float,
             rng: np.random.Generator) -> None:
    """A cat's face: pointed ears, slit-pupil eyes, a small pink nose, whiskers."""
    fur = _jitter(rng, FURS[int(rng.integers(len(FURS)))])
    inner = (240, 170, 180)
    for side in (-1, 1):
        ear = [(cx + side * 0.95 * r, cy - 0.2 * r), (cx + side * 0.2 * r, cy - 0.8 * r),
               (cx + side * 0.85 * r, cy - 1.55 * r)]
        draw.polygon(ear, fill=fur)
        inside = [(cx + side * 0.8 * r, cy - 0.35 * r), (cx + side * 0.38 * r, cy - 0.75 * r),
                  (cx + side * 0.78 * r, cy - 1.25 * r)]
        draw.polygon(inside, fill=inner)
    draw.ellipse((cx - r, cy - 0.88 * r, cx + r, cy + 0.88 * r), fill=fur)
    iris = ((120, 200, 60), (230, 200, 40), (90, 160, 220))[int(rng.integers(3))]
    for side in (-1, 1):
        ex, ey = cx + side * 0.4 * r, cy - 0.15 * r
        draw.ellipse((ex - 0.2 * r, ey - 0.14 * r, ex + 0.2 * r, ey + 0.14 * r), fill=iris)
        draw.ellipse((ex - 0.04 * r, ey - 0.13 * r, ex + 0.04 * r, ey + 0.13 * r), fill=(0, 0, 0))
    draw.polygon([(cx - 0.1 * r, cy + 0.15 * r), (cx + 0.1 * r, cy + 0.15 * r),
                  (cx, cy + 0.28 * r)], fill=(235, 120, 140))
    line = max(1, int(r * 0.04))
    for side in (-1, 1):
        draw.arc((cx + (side - 1) * 0.15 * r, cy + 0.2 * r, cx + (side + 1) * 0.15 * r,
                  cy + 0.45 * r), 20, 160, fill=_darker(fur, 0.4), width=line)
    _whiskers(draw, cx, cy, r, (250, 250, 250) if sum(fur) < 300 else (30, 30, 30))


def draw_dog(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float,
             rng: np.random.Generator) -> None:
    """A dog's face: floppy ears hanging at the sides, round eyes, a big dark nose, a tongue."""
    fur = _jitter(rng, FURS[int(rng.integers(len(FURS)))])
    ear = _darker(fur, 0.7)
    draw.ellipse((cx - 0.85 * r, cy - 0.95 * r, cx + 0.85 * r, cy + 0.85 * r), fill=fur)
    for side in (-1, 1):
        x0 = cx + side * 0.95 * r
        draw.ellipse((min(x0, x0 - side * 0.45 * r), cy - 0.8 * r,
                      max(x0, x0 - side * 0.45 * r), cy + 0.55 * r), fill=ear)
    draw.ellipse((cx - 0.45 * r, cy + 0.05 * r, cx + 0.45 * r, cy + 0.7 * r),
                 fill=_jitter(rng, (230, 215, 190), 15))
    for side in (-1, 1):
        ex, ey = cx + side * 0.33 * r, cy - 0.2 * r
        draw.ellipse((ex - 0.11 * r, ey - 0.11 * r, ex + 0.11 * r, ey + 0.11 * r),
                     fill=(30, 20, 10))
    draw.ellipse((cx - 0.18 * r, cy + 0.1 * r, cx + 0.18 * r, cy + 0.32 * r), fill=(20, 20, 20))
    if rng.random() < 0.6:
        draw.ellipse((cx - 0.12 * r, cy + 0.45 * r, cx + 0.12 * r, cy + 0.8 * r),
                     fill=(230, 90, 110))


def draw_house(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float,
               rng: np.random.Generator) -> None:
    """A house: walls, a pointed roof, a door and a window."""
    wall = _jitter(rng, (220, 200, 160), 40)
    draw.rectangle((cx - 0.8 * r, cy - 0.2 * r, cx + 0.8 * r, cy + 0.9 * r), fill=wall)
    draw.polygon([(cx - r, cy - 0.2 * r), (cx + r, cy - 0.2 * r), (cx, cy - 1.1 * r)],
                 fill=_jitter(rng, (170, 50, 40), 30))
    draw.rectangle((cx - 0.15 * r, cy + 0.35 * r, cx + 0.15 * r, cy + 0.9 * r),
                   fill=(100, 60, 30))
    draw.rectangle((cx + 0.35 * r, cy + 0.05 * r, cx + 0.65 * r, cy + 0.35 * r),
                   fill=(170, 210, 240))


def draw_tree(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float,
              rng: np.random.Generator) -> None:
    """A tree: a brown trunk under a round green crown."""
    draw.rectangle((cx - 0.15 * r, cy, cx + 0.15 * r, cy + 1.1 * r), fill=(110, 70, 40))
    crown = _jitter(rng, (60, 150, 60), 30)
    for dx, dy, size in ((0, -0.45, 0.7), (-0.4, -0.15, 0.5), (0.4, -0.15, 0.5)):
        x, y, s = cx + dx * r, cy + dy * r, size * r
        draw.ellipse((x - s, y - s, x + s, y + s), fill=crown)


def draw_sun(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float,
             rng: np.random.Generator) -> None:
    """A sun (or a ball): a disc, with rays half of the time."""
    colour = _jitter(rng, (250, 210, 50), 30)
    if rng.random() < 0.5:
        for k in range(12):
            angle = 2 * math.pi * k / 12
            draw.line([(cx + 0.7 * r * math.cos(angle), cy + 0.7 * r * math.sin(angle)),
                       (cx + 1.1 * r * math.cos(angle), cy + 1.1 * r * math.sin(angle))],
                      fill=colour, width=max(1, int(r * 0.08)))
    draw.ellipse((cx - 0.65 * r, cy - 0.65 * r, cx + 0.65 * r, cy + 0.65 * r), fill=colour)


def draw_car(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float,
             rng: np.random.Generator) -> None:
    """A car from the side: body, cabin, two wheels."""
    body = _jitter(rng, ((200, 40, 40), (40, 80, 200), (60, 60, 60))[int(rng.integers(3))], 30)
    draw.rectangle((cx - 1.1 * r, cy - 0.1 * r, cx + 1.1 * r, cy + 0.45 * r), fill=body)
    draw.polygon([(cx - 0.6 * r, cy - 0.1 * r), (cx - 0.35 * r, cy - 0.55 * r),
                  (cx + 0.45 * r, cy - 0.55 * r), (cx + 0.7 * r, cy - 0.1 * r)], fill=body)
    for side in (-1, 1):
        wx, wy = cx + side * 0.6 * r, cy + 0.45 * r
        draw.ellipse((wx - 0.28 * r, wy - 0.28 * r, wx + 0.28 * r, wy + 0.28 * r),
                     fill=(25, 25, 25))


def draw_flower(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float,
                rng: np.random.Generator) -> None:
    """A flower: petals round a yellow heart, on a stem."""
    draw.line([(cx, cy), (cx, cy + 1.2 * r)], fill=(60, 140, 50), width=max(1, int(r * 0.1)))
    petal = _jitter(rng, ((230, 80, 150), (240, 240, 240), (150, 90, 220))[int(rng.integers(3))])
    for k in range(int(rng.integers(5, 9))):
        angle = 2 * math.pi * k / 7
        px, py = cx + 0.45 * r * math.cos(angle), cy - 0.2 * r + 0.45 * r * math.sin(angle)
        draw.ellipse((px - 0.3 * r, py - 0.3 * r, px + 0.3 * r, py + 0.3 * r), fill=petal)
    draw.ellipse((cx - 0.22 * r, cy - 0.42 * r, cx + 0.22 * r, cy + 0.02 * r),
                 fill=(250, 200, 40))


NOT_CATS: tuple[Painter, ...] = (draw_dog, draw_dog, draw_house, draw_tree, draw_sun, draw_car,
                                 draw_flower)  # dogs twice: the look-alike is the hard case


def draw_picture(painter: Painter, size: int, rng: np.random.Generator) -> Image.Image:
    """One RGB picture of `size` x `size`: a random background, the subject placed at random."""
    big = size * SUPERSAMPLE
    sky = _jitter(rng, ((170, 210, 240), (245, 235, 210), (200, 230, 200), (230, 220, 240)
                        )[int(rng.integers(4))], 20)
    image = Image.new("RGB", (big, big), sky)
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.5:  # a floor or lawn
        draw.rectangle((0, big * rng.uniform(0.75, 0.9), big, big),
                       fill=_jitter(rng, (120, 160, 90), 40))
    r = big * rng.uniform(0.25, 0.3)
    cx = big * (0.5 + rng.uniform(-0.05, 0.05))
    cy = big * (0.55 + rng.uniform(-0.05, 0.05))
    painter(draw, cx, cy, r, rng)
    noise = rng.normal(0.0, 6.0, size=(big, big, 3))
    pixels = np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB").resize((size, size), Image.Resampling.LANCZOS)


def write_cat_pictures(root: str | Path, per_class: int = 200, size: int = 64,
                       seed: int = 0) -> dict[str, int]:
    """Write `per_class` PNG pictures into `root/cat/` and `root/not_cat/`; the counts written.

    The same seed draws the same pictures; another seed draws new ones (to predict on).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
    for k in range(per_class):
        draw_picture(draw_cat, size, rng).save(root / "cat" / f"cat_{seed}_{k:04d}.png")
        painter = NOT_CATS[int(rng.integers(len(NOT_CATS)))]
        name = painter.__name__.removeprefix("draw_")
        draw_picture(painter, size, rng).save(root / "not_cat" / f"{name}_{seed}_{k:04d}.png")
    return {name: per_class for name in CLASSES}
