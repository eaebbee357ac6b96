"""Small synthetic data sets of each kind a user brings, written as the folders and files edgekit reads.

Used by ``benchmarks/small_data.py`` (and nowhere in the tests, which make their own): every set is
seeded, so the same call writes the same files.

* :func:`shapes`: coloured circles, squares, triangles and stars on noisy backgrounds, one folder per
  class of PNGs (random colours, positions, sizes, rotations);
* :func:`glyphs`: five letter glyphs (A, E, K, R, S; the second image set, unlike the shapes: thin
  strokes, a font, any scale) on noisy backgrounds, one folder per class of PNGs;
* :func:`stripes`: horizontal, vertical or diagonal lines 2-4 px wide on noisy backgrounds, 48x48
  (the third image set: fine detail in images smaller than 64 px);
* :func:`arrows`: arrows pointing up, down, left or right on noisy backgrounds, 64x64 (the fourth:
  the class is a direction, so a mirrored image is another class);
* :func:`topics`: short texts (8-17 words) with one to three topic words among common filler words,
  one folder per topic of ``.txt`` files;
* :func:`tones`: one-second "words" of 16 kHz audio, each class a pitch contour (rising, falling,
  two-tone, steady) with random base pitch, timing, loudness and background noise, ``.wav`` files;
* :func:`table`: a CSV of sensor-like readings whose class is a non-linear function of a few
  columns, with distractor columns, a categorical column and missing values.
"""

from __future__ import annotations

import csv
import wave
from pathlib import Path

import numpy as np

SHAPES = ("circle", "square", "triangle", "star")


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if kind == "square":
        pts = [(np.pi / 4 + k * np.pi / 2, r) for k in range(4)]
    elif kind == "triangle":
        pts = [(-np.pi / 2 + k * 2 * np.pi / 3, r) for k in range(3)]
    else:  # a five-pointed star: outer and inner points alternate
        pts = [(-np.pi / 2 + k * np.pi / 5, r if k % 2 == 0 else r * 0.42) for k in range(10)]
    return [(cx + rr * np.cos(a + angle), cy + rr * np.sin(a + angle)) for a, rr in pts]


def _far_colour(bg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random colour far enough from ``bg`` to be seen."""
    while True:
        fg = rng.integers(0, 256, 3)
        if np.abs(fg - bg).sum() > 150:
            return fg


def _image_folder(out: Path, classes, per_class: int, side: int, seed: int, make) -> Path:
    """``per_class`` images ``make(name, side, rng)`` of each class, saved as ``out/<name>/<name>_NNN.png``."""
    rng = np.random.default_rng(seed)
    for name in classes:
        d = Path(out) / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            make(name, side, rng).save(d / f"{name}_{i:03d}.png")
    return Path(out)


def shape_image(kind: str, side: int, rng: np.random.Generator):
    """One ``side`` x ``side`` RGB image of ``kind`` (a PIL image)."""
    from PIL import Image, ImageDraw

    bg = rng.integers(0, 256, 3)
    noise = rng.normal(0, 25, (side, side, 3))
    base = np.clip(bg[None, None, :] + noise, 0, 255).astype(np.uint8)
    img = Image.fromarray(base, "RGB")
    draw = ImageDraw.Draw(img)
    fg = _far_colour(bg, rng)
    r = side * rng.uniform(0.18, 0.34)
    cx, cy = rng.uniform(r + 1, side - r - 1, 2)
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=tuple(int(c) for c in fg))
    else:
        draw.polygon(_polygon(kind, cx, cy, r, rng.uniform(-0.3, 0.3)), fill=tuple(int(c) for c in fg))
    return img


def shapes(out: Path, per_class: int = 80, side: int = 64, seed: int = 0) -> Path:
    """``per_class`` images of each of :data:`SHAPES`, at ``side`` x ``side``, under ``out/<class>/``."""
    return _image_folder(out, SHAPES, per_class, side, seed, shape_image)


GLYPHS = ("A", "E", "K", "R", "S")


def glyph_image(letter: str, side: int, rng: np.random.Generator):
    """One ``side`` x ``side`` RGB image of ``letter`` in Pillow's built-in font, at a random size,
    place, slant and colour on a noisy background of another colour (a PIL image)."""
    from PIL import Image, ImageDraw, ImageFont

    bg = rng.integers(0, 256, 3)
    fg = _far_colour(bg, rng)
    size = int(side * rng.uniform(0.4, 0.75))
    font = ImageFont.load_default(size=size)
    glyph = Image.new("L", (side, side), 0)
    ImageDraw.Draw(glyph).text((side / 2, side / 2), letter, fill=255, font=font, anchor="mm")
    glyph = glyph.rotate(rng.uniform(-15, 15), resample=Image.BILINEAR)
    box = glyph.getbbox() or (0, 0, side, side)
    glyph = glyph.crop(box)
    x0 = int(rng.integers(0, side - glyph.width + 1))
    y0 = int(rng.integers(0, side - glyph.height + 1))
    noise = rng.normal(0, 25, (side, side, 3))
    img = Image.fromarray(np.clip(bg[None, None, :] + noise, 0, 255).astype(np.uint8), "RGB")
    img.paste(Image.new("RGB", glyph.size, tuple(int(c) for c in fg)), (x0, y0), glyph)
    return img


def glyphs(out: Path, per_class: int = 60, side: int = 96, seed: int = 0) -> Path:
    """``per_class`` images of each letter of :data:`GLYPHS`, at ``side`` x ``side``, under ``out/<letter>/``."""
    return _image_folder(out, GLYPHS, per_class, side, seed, glyph_image)


STRIPES = ("horizontal", "vertical", "diagonal")


def stripe_image(kind: str, side: int, rng: np.random.Generator):
    """One ``side`` x ``side`` RGB image of parallel lines 2-4 px wide every 7-11 px, in ``kind``'s
    direction, at a random phase and colour on a noisy background of another colour (a PIL image):
    fine detail that a smaller input side blurs."""
    from PIL import Image, ImageDraw

    bg = rng.integers(0, 256, 3)
    fg = tuple(int(c) for c in _far_colour(bg, rng))
    img = Image.new("RGB", (side, side), tuple(int(c) for c in bg))
    draw = ImageDraw.Draw(img)
    width, step = int(rng.integers(2, 5)), int(rng.integers(7, 12))
    for k in range(-side + int(rng.integers(0, step)), 2 * side, step):
        ends = {"horizontal": [(0, k), (side, k)], "vertical": [(k, 0), (k, side)],
                "diagonal": [(k, 0), (k - side, side)]}[kind]
        draw.line(ends, fill=fg, width=width)
    noisy = np.asarray(img, np.float32) + rng.normal(0, 20, (side, side, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def stripes(out: Path, per_class: int = 70, side: int = 48, seed: int = 0) -> Path:
    """``per_class`` images of each direction of :data:`STRIPES`, at ``side`` x ``side``, under ``out/<kind>/``."""
    return _image_folder(out, STRIPES, per_class, side, seed, stripe_image)


ARROWS = ("up", "down", "left", "right")


def arrow_image(kind: str, side: int, rng: np.random.Generator):
    """One ``side`` x ``side`` RGB image of a filled arrow pointing ``kind``'s way (give or take
    ~9 degrees), at a random size, place and colour on a noisy background of another colour."""
    from PIL import Image, ImageDraw

    bg = rng.integers(0, 256, 3)
    fg = tuple(int(c) for c in _far_colour(bg, rng))
    img = Image.new("RGB", (side, side), tuple(int(c) for c in bg))
    r = side * rng.uniform(0.16, 0.28)
    cx, cy = rng.uniform(r + 1, side - r - 1, 2)
    shaft, head = r / 4, r / 2  # half-widths of the shaft and the head
    outline = [(-r, -shaft), (0, -shaft), (0, -head), (r, 0), (0, head), (0, shaft), (-r, shaft)]
    angle = {"right": 0.0, "down": np.pi / 2, "left": np.pi, "up": -np.pi / 2}[kind] + rng.normal(0, 0.15)
    c, s = np.cos(angle), np.sin(angle)
    ImageDraw.Draw(img).polygon([(cx + c * x - s * y, cy + s * x + c * y) for x, y in outline], fill=fg)
    noisy = np.asarray(img, np.float32) + rng.normal(0, 15, (side, side, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def arrows(out: Path, per_class: int = 80, side: int = 64, seed: int = 0) -> Path:
    """``per_class`` images of each direction of :data:`ARROWS`, at ``side`` x ``side``, under ``out/<kind>/``."""
    return _image_folder(out, ARROWS, per_class, side, seed, arrow_image)


MARKS = ("cross", "ring", "tri")


def mark_image(kind: str, side: int, rng: np.random.Generator):
    """One ``side`` x ``side`` RGB image: a ring 3-6 px wide (at 56 px), a cross of bars 4-8 px wide or a
    filled triangle, at a random size, place, turn and colour on a noisy background of another colour.
    One thin class (the rings) beside thick ones."""
    from PIL import Image, ImageDraw

    bg = rng.integers(0, 256, 3)
    fg = tuple(int(c) for c in _far_colour(bg, rng))
    img = Image.new("RGB", (side, side), tuple(int(c) for c in bg))
    draw, k = ImageDraw.Draw(img), side / 56
    r = rng.uniform(9, 16) * k
    cx, cy = rng.uniform(r + 2, side - r - 2, 2)
    if kind == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=fg, width=int(rng.integers(3, 6) * k))
    elif kind == "cross":
        w = rng.uniform(2, 4) * k
        draw.rectangle([cx - r, cy - w, cx + r, cy + w], fill=fg)
        draw.rectangle([cx - w, cy - r, cx + w, cy + r], fill=fg)
    else:
        a = rng.uniform(0, 2 * np.pi)
        draw.polygon([(cx + r * np.cos(a + j * 2 * np.pi / 3), cy + r * np.sin(a + j * 2 * np.pi / 3))
                      for j in range(3)], fill=fg)
    noisy = np.asarray(img, np.float32) + rng.normal(0, 12, (side, side, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def marks(out: Path, per_class: int = 90, side: int = 56, seed: int = 0) -> Path:
    """``per_class`` images of each kind of :data:`MARKS`, at ``side`` x ``side``, under ``out/<kind>/``."""
    return _image_folder(out, MARKS, per_class, side, seed, mark_image)


TOPIC_WORDS = {
    "sport": ["goal", "match", "team", "coach", "league", "score", "player", "stadium", "referee", "season"],
    "weather": ["rain", "storm", "sunny", "forecast", "cloud", "wind", "snow", "temperature", "humid", "thunder"],
    "cooking": ["recipe", "oven", "flour", "bake", "salt", "garlic", "simmer", "butter", "kitchen", "sauce"],
}
FILLER = ("the a an and of to in on with for at by from about today yesterday people said that this it was is "
          "very quite some many more most other just also then after before during while again here there "
          "new old big small good bad first last long short").split()


def topics(out: Path, per_class: int = 120, seed: int = 0) -> Path:
    """``per_class`` texts of 8-17 words per topic of :data:`TOPIC_WORDS`, under ``out/<topic>/``."""
    rng = np.random.default_rng(seed)
    for topic, words in TOPIC_WORDS.items():
        d = Path(out) / topic
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            n = int(rng.integers(8, 18))
            k = int(rng.integers(1, 4))
            text = list(rng.choice(FILLER, n - k))
            for w in rng.choice(words, k):
                text.insert(int(rng.integers(0, len(text) + 1)), str(w))
            (d / f"{topic}_{i:03d}.txt").write_text(" ".join(text) + "\n", encoding="utf-8")
    return Path(out)


TONES = ("rising", "falling", "twotone", "steady")


def tone_clip(kind: str, rng: np.random.Generator, rate: int = 16000) -> np.ndarray:
    """A word-like tone of 0.3-0.6 s inside a second of noise, as float32 in [-1, 1]."""
    n = rate
    length = int(rate * rng.uniform(0.3, 0.6))
    start = int(rng.integers(0, n - length))
    f0 = rng.uniform(300, 700)
    t = np.arange(length) / rate
    frac = t / t[-1]
    if kind == "rising":
        freq = f0 * (1 + 0.8 * frac)
    elif kind == "falling":
        freq = f0 * (1.8 - 0.8 * frac)
    elif kind == "twotone":
        freq = np.where(frac < 0.5, f0, f0 * 1.6)
    else:
        freq = np.full_like(t, f0 * 1.3)
    phase = 2 * np.pi * np.cumsum(freq) / rate
    env = np.sin(np.pi * frac) ** 0.5
    voice = env * (np.sin(phase) + 0.3 * np.sin(2 * phase))
    clip = rng.normal(0, rng.uniform(0.01, 0.05), n)
    clip[start:start + length] += rng.uniform(0.2, 0.6) * voice
    return np.clip(clip, -1, 1).astype(np.float32)


def tones(out: Path, per_class: int = 60, seed: int = 0, rate: int = 16000) -> Path:
    """``per_class`` one-second 16 kHz clips per :data:`TONES` class, under ``out/<class>/``."""
    rng = np.random.default_rng(seed)
    for kind in TONES:
        d = Path(out) / kind
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pcm = (tone_clip(kind, rng, rate) * 32767).astype("<i2")
            with wave.open(str(d / f"{kind}_{i:03d}.wav"), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(rate)
                w.writeframes(pcm.tobytes())
    return Path(out)


def table(path: Path, rows: int = 300, seed: int = 0) -> Path:
    """A CSV of ``rows`` readings with a ``state`` column (idle / running / overheating)."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["temperature", "vibration", "current", "humidity", "site", "state"])
        for _ in range(rows):
            state = rng.choice(["idle", "running", "overheating"])
            current = {"idle": rng.normal(0.5, 0.3), "running": rng.normal(4, 0.8),
                       "overheating": rng.normal(4.5, 0.8)}[state]
            temp = {"idle": rng.normal(30, 4), "running": rng.normal(45, 4),
                    "overheating": rng.normal(70, 6)}[state]
            vib = rng.normal(0.2, 0.1) if state == "idle" else rng.normal(1.0, 0.3)
            humidity = rng.uniform(20, 80)  # unrelated to the state
            site = rng.choice(["north", "south", "east"])
            cells = [f"{temp:.1f}", f"{vib:.3f}", f"{current:.2f}", f"{humidity:.0f}", site, state]
            if rng.random() < 0.03:  # a missing reading now and then
                cells[int(rng.integers(0, 4))] = ""
            w.writerow(cells)
    return path
