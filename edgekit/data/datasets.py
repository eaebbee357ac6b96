"""Datasets: fixed-seed train/validation/test splits with the normalization recorded.

Sources (one string names each):
- ``digits``: scikit-learn's 1,797 real 8x8 handwritten digits (shipped with the package, no
  download), resized to the model's resolution and channels;
- a folder of images with one subfolder per class, or a ``.zip`` / ``.tar(.gz)`` of one
  (extracted safely to a temporary folder: :mod:`edgekit.data.archive`);
- an ``.npz`` file with arrays ``x`` and ``y``.

Arrays in a :class:`Dataset` are already normalized (what the model sees); the
:class:`~edgekit.artifact.Normalization` says how to get there from raw data and travels
with the model and every artifact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.artifact import Normalization
from edgekit.data.archive import extracted, is_archive
from edgekit.errors import EdgekitError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
BUILTIN = ("digits", "diabetes", "digits_flat", "digits_anomaly", "digits_pairs", "digits_gen", "token_order")
# 8-bit images are mapped to [-1, 1], the range MobileNets are trained on.
IMAGE_NORMALIZATION = Normalization(mean=127.5, std=127.5, raw_range=(0.0, 255.0))


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    normalization: Normalization
    class_names: list[str] = field(default_factory=list)
    task: str = "classification"
    # How raw audio/text/table rows become x (front-end knobs, vocabulary, column statistics):
    # saved in model.json and the exported model's metadata (edgekit.data.audio/text/table).
    preprocessing: dict | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def summary(self) -> dict:
        return {"name": self.name, "n_train": len(self.x_train), "n_val": len(self.x_val), "n_test": len(self.x_test),
                "num_classes": self.num_classes, "input_shape": list(self.input_shape)}

    def renormalized(self, normalization: Normalization) -> "Dataset":
        """The same samples under another normalization (back to raw, then forward)."""
        import dataclasses

        old = self.normalization

        def conv(x):
            if not np.issubdtype(x.dtype, np.floating):
                return x
            return normalization.apply(x.astype(np.float64) * old.std + old.mean).astype(np.float32)

        return dataclasses.replace(self, x_train=conv(self.x_train), x_val=conv(self.x_val), x_test=conv(self.x_test),
                                   normalization=normalization)

    def representative(self, n: int = 600, seed: int = 0) -> np.ndarray:
        """Training samples for int8 calibration (never test samples). 600 rather than 200: the
        demo's MobileNetV2 int8 read 0.975 test accuracy calibrated on 200, 0.978 on 600 and on all
        1,257 (Keras 0.986), i.e. 200 left the activation ranges a little short."""
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(self.x_train), size=min(n, len(self.x_train)), replace=False)
        return self.x_train[np.sort(idx)]


def load_dataset(source: str | Path, input_shape=None, seed: int = 0, val_fraction: float = 0.1,
                 test_fraction: float = 0.2, scaling=None, **options) -> Dataset:
    """Load ``source`` and split it with ``seed``. ``input_shape`` (H, W, C) resizes images.

    ``scaling`` (an :class:`edgekit.data.scaling.Scaling`) replaces the default normalization
    (8-bit images to [-1, 1], other data standardized) with the one a model needs.
    ``options`` are for audio, text and table sources (:func:`edgekit.data.sources.load_source`):
    ``preprocessing`` (saved by training), ``frontend``, ``augmentation``, ``target``, ``task``, ``kind``.
    """
    ds = _load_dataset(source, input_shape, seed, val_fraction, test_fraction, **options)
    if scaling is not None:
        ds = ds.renormalized(scaling.normalization_for(ds.normalization.raw_range))
    return ds


def _load_dataset(source, input_shape, seed, val_fraction, test_fraction, **options) -> Dataset:
    src = str(source)
    from edgekit.data.sources import load_source  # audio folders, text, CSV tables

    special = load_source(src, input_shape, seed, val_fraction, test_fraction, **options)
    if special is not None:
        return special
    if src in BUILTIN and src != "digits":
        from edgekit.data.builtin import load_builtin  # datasets for the other tasks (regression, anomaly, ...)

        return load_builtin(src, input_shape, seed, val_fraction, test_fraction)
    if src in BUILTIN:
        raw, y, names = _digits()
        name = "digits"
    else:
        p = Path(src)
        if not p.exists():
            raise EdgekitError(
                f"unknown dataset {src!r}: not a built-in ({', '.join(BUILTIN)}) and no such file or folder."
            )
        if p.is_dir():
            raw, y, names = _image_folder(p)
        elif is_archive(p):
            with extracted(p) as folder:
                raw, y, names = _image_folder(folder)
        elif p.suffix.lower() == ".npz":
            raw, y, names = _npz(p)
        else:
            raise EdgekitError(f"{p}: unsupported data file; give 'digits', an image folder (or a .zip/.tar.gz of one) "
                               "or an .npz with x and y.")
        name = p.name

    images = raw.ndim in (3, 4)
    if images:
        raw = _to_image_batch(raw, input_shape)
    normalization = IMAGE_NORMALIZATION if images and float(raw.max()) > 1.0 else _fit_normalization(raw)
    x = normalization.apply(raw.astype(np.float32)).astype(np.float32)
    return _split(name, x, y, names, normalization, seed, val_fraction, test_fraction)


def _split(name, x, y, names, normalization, seed, val_fraction, test_fraction) -> Dataset:
    from sklearn.model_selection import train_test_split

    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise EdgekitError(f"dataset {name!r} has a single class ({names[int(classes[0])] if names else classes[0]}); "
                           "a classifier needs at least two.")
    stratify = y if counts.min() >= 3 else None
    idx = np.arange(len(y))
    try:
        rest, test = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=stratify)
        rel_val = val_fraction / (1.0 - test_fraction)
        train, val = train_test_split(rest, test_size=rel_val, random_state=seed,
                                      stratify=y[rest] if stratify is not None else None)
    except ValueError as e:
        raise EdgekitError(f"dataset {name!r} is too small to split into train/validation/test ({len(y)} samples): {e}")
    return Dataset(name, x[train], y[train], x[val], y[val], x[test], y[test], normalization, names)


def _fit_normalization(raw: np.ndarray) -> Normalization:
    lo, hi = float(raw.min()), float(raw.max())
    std = float(raw.std()) or 1.0
    return Normalization(mean=float(raw.mean()), std=std, raw_range=(lo, hi))


def _check_arrays(x: np.ndarray, y: np.ndarray, where: str):
    if len(x) == 0:
        raise EdgekitError(f"{where}: the dataset is empty.")
    if len(x) != len(y):
        raise EdgekitError(f"{where}: x has {len(x)} samples but y has {len(y)}; they must match.")
    if not np.issubdtype(x.dtype, np.number):
        raise EdgekitError(f"{where}: x must be numeric, got dtype {x.dtype}.")
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise EdgekitError(f"{where}: x contains {bad} NaN or infinite values; clean or impute them first.")


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    raw = (d.images.astype(np.float32) * (255.0 / 16.0))  # 0..16 gray levels to 8-bit range
    return raw, d.target.astype(np.int64), [str(i) for i in range(10)]


def _npz(p: Path):
    try:
        with np.load(p, allow_pickle=False) as f:
            if "x" not in f or "y" not in f:
                raise EdgekitError(f"{p}: an .npz dataset needs arrays named 'x' and 'y' (found {', '.join(f.files) or 'none'}).")
            x, y = f["x"], f["y"]
    except EdgekitError:
        raise
    except Exception as e:  # noqa: BLE001 - zipfile/pickle/format errors all mean "not a usable npz"
        raise EdgekitError(f"{p}: not a readable .npz file ({type(e).__name__}: {str(e)[:120]}).") from e
    _check_arrays(x, y, str(p))
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
        raise EdgekitError(f"{p}: y contains NaN or infinite values.")
    if y.dtype.kind in "iub":
        classes = np.unique(y)
        names = [str(c) for c in classes]
        y = np.searchsorted(classes, y)
    else:
        classes, y = np.unique(y, return_inverse=True)
        names = [str(c) for c in classes]
    return x.astype(np.float32), y.astype(np.int64), names


def _image_folder(p: Path):
    from PIL import Image, UnidentifiedImageError

    class_dirs = sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(class_dirs) < 2:
        raise EdgekitError(f"{p}: an image folder needs one subfolder per class and at least two classes "
                           f"(found {len(class_dirs)}).")
    images, labels, sizes = [], [], set()
    for label, d in enumerate(class_dirs):
        files = sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise EdgekitError(f"{d}: class folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))}).")
        for f in files:
            try:
                with Image.open(f) as im:
                    im = im.convert("RGB")
                    images.append(im)
                    sizes.add(im.size)
            except (UnidentifiedImageError, OSError) as e:
                raise EdgekitError(f"{f}: unreadable image ({type(e).__name__}); remove or replace it.") from e
            labels.append(label)
    # Images of different sizes are brought to the most common size here; the model's
    # resolution is applied afterwards like for every other source.
    w, h = max(sizes, key=lambda s: sum(im.size == s for im in images))
    raw = np.stack([np.asarray(im.resize((w, h), Image.BILINEAR), dtype=np.float32) for im in images])
    return raw, np.asarray(labels, np.int64), [d.name for d in class_dirs]


def _to_image_batch(raw: np.ndarray, input_shape) -> np.ndarray:
    """(N, H, W) or (N, H, W, C) to (N, H', W', C') for the model's input shape."""
    if raw.ndim == 3:
        raw = raw[..., None]
    if input_shape is None:
        return raw.astype(np.float32)
    if len(input_shape) != 3:
        raise EdgekitError(f"the data are images but the model expects input shape {tuple(input_shape)}; "
                           "give an image model or flat features.")
    h, w, c = (int(d) for d in input_shape)
    if raw.shape[1:3] != (h, w):
        raw = _resize(raw, h, w)
    if raw.shape[-1] != c:
        if raw.shape[-1] == 1:
            raw = np.repeat(raw, c, axis=-1)
        elif c == 1:
            raw = raw[..., :3].mean(axis=-1, keepdims=True)
        else:
            raise EdgekitError(f"images have {raw.shape[-1]} channels; the model expects {c}.")
    return raw.astype(np.float32)


def _resize(raw: np.ndarray, h: int, w: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((raw.shape[0], h, w, raw.shape[-1]), np.float32)
    for i, img in enumerate(raw):
        for ch in range(img.shape[-1]):
            out[i, :, :, ch] = np.asarray(Image.fromarray(img[:, :, ch].astype(np.float32), mode="F").resize((w, h), Image.BILINEAR))
    return out
