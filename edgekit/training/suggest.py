"""A registry model and input size for a user's data: ``edgekit suggest --data DIR`` and
``edgekit train --data DIR`` without a model name.

The data are looked at, not loaded: what kind they are (image, audio or text class folders, a CSV
table, an .npz), how many samples each class has, and an image's size or a text's length. The
choice is the recipe the small-data benchmark ran (``benchmarks/small_data.py``,
``benchmarks/results/small_data.md``) for that kind, so what is suggested is what was measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import EdgekitError

# Below this many images the suggested image model is the small-data one.
SMALL_IMAGE_SET = 2000
MCU_IMAGE_SIDE = 64  # an image model for a microcontroller board: at most this side
# Fewer images per class than this and a model from scratch may not learn the classes. With the
# small-data recipe MobileNetV2 0.35 reached 0.969-1.00 on 4 shapes x 80 in every run, but on 60 per
# class it lands on either side of 0.90 from one machine or seed to the next: 4 shapes x 60 0.81-0.94,
# 5 letters x 60 (random colours on noise, read at 80) 0.80-0.98 (small_data.md,
# small_data-20261207T002312Z.md, small_data-20261207T031318Z.md, small_data_onset_probe*.md).
# 75 per class is no guarantee: 4 arrow directions x 80 reached 0.42 (small_data-20261207T054614Z.md).
FEW_IMAGES_PER_CLASS = 75


@dataclass(frozen=True)
class DataProfile:
    kind: str  # image | audio | text | table | sequence | arrays
    samples: int
    classes: int
    image_side: int | None = None  # the median image's shorter side
    image_channels: int = 3  # 1 when the images looked at are all grey
    sample_shape: tuple[int, ...] | None = None  # an .npz sample's shape, e.g. (T, F) of a sequence


@dataclass(frozen=True)
class Suggestion:
    model: str
    params: dict = field(default_factory=dict)  # builder knobs, and input_shape for images
    reason: str = ""
    options: dict = field(default_factory=dict)  # load_dataset options (a CSV table's target)
    caution: str = ""  # a line to print before training: what these data may not support

    def knobs_text(self) -> str:
        """The knobs as ``alpha=0.35 input_shape=64x64x3``."""
        return " ".join(f"{k}={'x'.join(map(str, v)) if k == 'input_shape' else v}" for k, v in self.params.items())

    def command(self, data: str) -> str:
        """The equivalent ``edgekit train`` line."""
        flags = []
        for k, v in self.params.items():
            if k == "input_shape" and len(v) == 3:  # an image's side
                flags.append(f"--resolution {v[0]}")
            else:
                flags.append(f"--param {k}={'x'.join(map(str, v)) if isinstance(v, tuple) else v}")
        if self.options.get("target"):
            flags.append(f"--target {self.options['target']}")
        return " ".join(["edgekit train", self.model, "--data", data, *flags])


def profile_data(source: str | Path, target: str | None = None) -> DataProfile:
    """What kind of data ``source`` is and how much of it there is (``target``: a CSV's column)."""
    p = Path(source)
    if not p.exists():
        raise EdgekitError(f"{p}: no such file or folder; give a folder with one subfolder per class, a .csv "
                           "or an .npz (built-in data sets need a model name: see `edgekit train --help`).")
    if p.is_dir():
        from edgekit.data.datasets import IMAGE_SUFFIXES
        from edgekit.data.sources import _folder_kind

        classes = sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith((".", "_")))
        if len(classes) < 2:
            raise EdgekitError(f"{p}: needs one subfolder per class and at least two classes (found {len(classes)}).")
        files = [f for d in classes for f in d.iterdir() if f.is_file()]
        kind = _folder_kind(p) or "image"
        images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
        side = _median_side(images) if kind == "image" else None
        channels = _sample_channels(images) if kind == "image" else 3
        return DataProfile(kind, len(images) if kind == "image" else len(files), len(classes), side, channels)
    if p.suffix.lower() == ".csv":
        from edgekit.data.table import read_csv_rows

        header, rows = read_csv_rows(p)
        rows = list(rows)
        kind = "text" if "text" in header and not target else "table"
        col = target or ("label" if "label" in header else None)
        classes = len({r[header.index(col)] for _, r in rows}) if col in header else 0
        return DataProfile(kind, len(rows), classes)
    if p.suffix.lower() == ".npz":
        import numpy as np

        from edgekit.data.datasets import looks_like_images

        with np.load(p) as z:
            x, y = z["x"], z["y"]
            kind = "image" if looks_like_images(x) else "sequence" if x.ndim == 3 else "arrays"
            return DataProfile(kind, len(x), len(np.unique(y)), min(x.shape[1:3]) if kind == "image" else None,
                               int(x.shape[-1]) if x.ndim == 4 else 1, tuple(int(d) for d in x.shape[1:]))
    raise EdgekitError(f"{p}: cannot tell what data this is; give a class folder, a .csv or an .npz.")


def folder_image_side(p: Path) -> int | None:
    """The median shorter side of the images in a class folder ``p`` (a sample of them)."""
    from edgekit.data.datasets import IMAGE_SUFFIXES

    files = [f for d in sorted(p.iterdir()) if d.is_dir() for f in sorted(d.iterdir())
             if f.suffix.lower() in IMAGE_SUFFIXES]
    return _median_side(files)


def _median_side(images: list[Path], look_at: int = 25) -> int | None:
    from PIL import Image

    sides = []
    for f in images[:: max(1, len(images) // look_at)][:look_at]:
        try:
            with Image.open(f) as im:
                sides.append(min(im.size))
        except OSError:
            continue
    return sorted(sides)[len(sides) // 2] if sides else None


def _sample_channels(images: list[Path], look_at: int = 25) -> int:
    """1 when the images looked at are all grey (equal red, green and blue), else 3: the channels
    the loader gives the folder's images (``edgekit.data.datasets._own_channels``)."""
    import numpy as np
    from PIL import Image

    for f in images[:: max(1, len(images) // look_at)][:look_at]:
        try:
            with Image.open(f) as im:
                rgb = np.asarray(im.convert("RGB"))
        except OSError:
            continue
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])):
            return 3
    return 1 if images else 3


# Image sides are read in steps of this many pixels (the stroke rule and train's "Try" step by it too).
SIDE_STEP = 16


def image_side(native: int | None, largest: int = 96) -> int:
    """The input side for images of ``native`` pixels: their own size in steps of :data:`SIDE_STEP` (at least 32),
    never upsampled past it and at most ``largest``; from-scratch training on a few hundred images
    gains nothing from more pixels, and each doubling of the side costs 4x the time. Steps of 32
    read 48-63 px images at 32: 56-px images with 3-6 px rings reached 0.796 there, 0.926 at 48;
    48-px stripes 0.905 at 32, 1.000 at 48 (benchmarks/results/small_data-20261207T0*.md)."""
    if not native:
        return 64
    return int(max(32, min(largest, native // SIDE_STEP * SIDE_STEP)))


def few_images_caution(per_class: int) -> str:
    """The warning for an image set with fewer than :data:`FEW_IMAGES_PER_CLASS` images per class."""
    if per_class >= FEW_IMAGES_PER_CLASS:
        return ""
    return (f"~{per_class} images per class: from scratch, a model may not learn the classes from so few (with this "
            f"recipe, over machines and seeds, 4 shapes x 80 reached 0.97-1.00 test accuracy, 4 shapes x 60 0.81-0.94, "
            f"5 letters x 60 0.80-0.98); {FEW_IMAGES_PER_CLASS} or more per class, or --weights (a pretrained start), "
            f"help most.")


def suggest(source: str | Path, target: str | None = None, board: str | None = None, seed: int = 0) -> Suggestion:
    """A model for ``source`` (``target``: a CSV table's label column; ``board``: an MCU board from
    ``edgekit targets``, which caps the image size; ``seed``: the split ``edgekit train`` will make,
    whose training images alone decide whether thin strokes need more pixels)."""
    prof = profile_data(source, target)
    per_class = prof.samples // max(1, prof.classes)
    size = f"{prof.samples} samples in {prof.classes} classes (~{per_class} each)"
    if prof.kind == "image":
        small = prof.samples < SMALL_IMAGE_SET
        largest = MCU_IMAGE_SIDE if board or small else 96
        side = image_side(prof.image_side, largest)
        cap = (f"at most {largest} for {board}" if board else
               f"at most {largest}: from scratch on {prof.samples} images more pixels cost time and add little"
               if small else f"at most {largest}")
        why_side = f"{side}x{side}: the images are {prof.image_side} px, kept at their own size in steps of {SIDE_STEP}, {cap}"
        finer = image_side(prof.image_side, 96)
        if small and not board and finer > side and Path(source).is_dir():
            from edgekit.training.detail import MIN_HALF_WIDTH, training_half_width

            at_finer = training_half_width(source, finer, seed)
            width = at_finer * side / finer
            if width < MIN_HALF_WIDTH:
                # the smallest side, in steps, at which the strokes are wide enough: each step costs time
                wide_enough = next((s for s in range(side + SIDE_STEP, finer, SIDE_STEP)
                                    if at_finer * s / finer >= MIN_HALF_WIDTH), finer)
                why_side = (f"{wide_enough}x{wide_enough}: the images are {prof.image_side} px; at {side}x{side} the "
                            f"objects' thinnest parts (strokes) would be {2 * width:.1f} px wide, under "
                            f"{2 * MIN_HALF_WIDTH:g} (measured on the training images), so they are read at "
                            f"{wide_enough}, where they are {2 * at_finer * wide_enough / finer:.1f} "
                            f"(small sets are otherwise read at most at {side})")
                side = wide_enough
        return Suggestion("mobilenet_v2", {"input_shape": (side, side, prof.image_channels), "alpha": 0.35},
                          f"{size} of images: MobileNetV2 at width 0.35 (0.4 M parameters) learns from a few hundred "
                          f"images with the small-data recipe and runs on phones and, int8, on MCUs; {why_side}",
                          caution=few_images_caution(per_class))
    if prof.kind == "audio":
        return Suggestion("ds_cnn", {}, f"{size} of audio clips: DS-CNN, the MLPerf Tiny keyword-spotting "
                                        "model, on the log-mel/MFCC front end")
    if prof.kind == "text":
        return Suggestion("transformer_encoder", {"embed_dim": 64, "num_heads": 4, "ff_dim": 128, "num_layers": 2},
                          f"{size} of texts: a 2-layer transformer encoder of width 64 (TinyBERT's 4x312 has "
                          f"millions of weights for a few hundred texts), sequence length fitted to the texts")
    if prof.kind == "sequence":
        steps, features = prof.sample_shape
        return Suggestion("lstm", {"input_shape": (steps, features)},
                          f"{size} of sequences ({steps} steps x {features} features): an LSTM of 64 units reads "
                          "the steps in order (a few ten thousand weights)")
    if prof.kind == "table":
        if not target:
            raise EdgekitError(f"{source}: a table needs --target (the column to predict).")
        return Suggestion("mlp", {}, f"{size} of table rows: a small MLP on the standardized and one-hot columns",
                          {"target": target})
    return Suggestion("mlp", {}, f"{size} of feature vectors: a small MLP")
