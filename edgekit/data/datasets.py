"""Datasets: fixed-seed train/validation/test splits with the normalization recorded.

Sources (one string names each):
- ``digits``: scikit-learn's 1,797 real 8x8 handwritten digits (shipped with the package, no
  download), resized to the model's resolution and channels;
- a folder of images with one subfolder per class, or a ``.zip`` / ``.tar(.gz)`` of one
  (extracted safely to a temporary folder: :mod:`edgekit.data.archive`); its images have one
  channel when all are grey, else three (RGB);
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
from edgekit.errors import EdgekitError, first_line

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
        """One input's sample shape (the first input's, for several inputs: see :attr:`inputs`)."""
        x = self.x_train
        return tuple((next(iter(x.values())) if isinstance(x, dict) else x).shape[1:])

    @property
    def inputs(self) -> list[str] | None:
        """The input names of a several-input data set (``x`` a dict keyed by them), else None."""
        return list(self.x_train) if isinstance(self.x_train, dict) else None

    def summary(self) -> dict:
        return {"name": self.name, "n_train": len(self.x_train), "n_val": len(self.x_val), "n_test": len(self.x_test),
                "num_classes": self.num_classes, "input_shape": list(self.input_shape)}

    def renormalized(self, normalization: Normalization) -> "Dataset":
        """The same samples under another normalization (back to raw, then forward)."""
        import dataclasses

        old = self.normalization

        def conv(x):
            if isinstance(x, dict):  # several inputs are fed as given
                return x
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
        total = n_samples(self.x_train)
        idx = rng.choice(total, size=min(n, total), replace=False)
        return take(self.x_train, np.sort(idx))


def n_samples(x) -> int:
    """Samples in ``x``: one array, or a dict of arrays (one per input name)."""
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def take(x, idx):
    """``x[idx]`` for one array or for each array of a dict (several inputs)."""
    return {k: v[idx] for k, v in x.items()} if isinstance(x, dict) else x[idx]


def check_source(source) -> None:
    """A data source names a built-in or an existing file or folder, and an ``.npz`` among them is
    usable (readable, arrays that fit, finite, two classes or more): checked without TensorFlow or a
    model, so a command refuses it before it starts. Other files are checked when they are loaded."""
    src = str(source)
    if src in BUILTIN:
        return
    p = _existing(src)
    if p.suffix.lower() == ".npz" and p.is_file():
        _, y, names = _npz(p)
        if len(np.unique(y)) < 2:
            raise EdgekitError(f"dataset {p.name!r} has a single class ({names[0]}); a classifier needs at least two.")


def _existing(src: str) -> Path:
    p = Path(src)
    if not p.exists():
        raise EdgekitError(f"unknown dataset {src!r}: not a built-in ({', '.join(BUILTIN)}) and no such file or folder.")
    return p


def load_dataset(source: str | Path, input_shape=None, seed: int = 0, val_fraction: float = 0.1,
                 test_fraction: float = 0.2, scaling=None, warn=None, **options) -> Dataset:
    """Load ``source`` and split it with ``seed``. ``input_shape`` (H, W, C) resizes images.

    ``scaling`` (an :class:`edgekit.data.scaling.Scaling`) replaces the default normalization
    (8-bit images to [-1, 1], other data standardized) with the one a model needs.
    ``options`` are for audio, text and table sources (:func:`edgekit.data.sources.load_source`):
    ``preprocessing`` (saved by training), ``frontend``, ``augmentation``, ``target``, ``task``, ``kind``.

    Data are images only where the model takes images (``input_shape`` of rank 3); an ``.npz`` of
    sequences ``(N, T, F)`` or token ids for a model taking ``(T, F)`` or ``(T,)`` is fed as given.
    ``warn(line)``: told when a user's images are resized to the model's resolution.
    """
    ds = _load_dataset(source, input_shape, seed, val_fraction, test_fraction, warn=warn, **options)
    if scaling is not None:
        ds = ds.renormalized(scaling.normalization_for(ds.normalization.raw_range))
    return ds


def _load_dataset(source, input_shape, seed, val_fraction, test_fraction, warn=None, **options) -> Dataset:
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
        p = _existing(src)
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

    if isinstance(raw, dict) or not _are_images(raw, input_shape):
        x, normalization = _as_given(raw, input_shape, name)
        return _split(name, x, y, names, normalization, seed, val_fraction, test_fraction)
    notes: list[str] = []  # said once the data are known to be usable (an error comes alone)
    raw = _to_image_batch(raw, input_shape, notes.append if src not in BUILTIN else None, name)
    normalization = IMAGE_NORMALIZATION if float(raw.max()) > 1.0 else _fit_normalization(raw)
    x = normalization.apply(raw.astype(np.float32)).astype(np.float32)
    ds = _split(name, x, y, names, normalization, seed, val_fraction, test_fraction)
    for note in notes if warn is not None else ():
        warn(note)
    return ds


def _are_images(raw: np.ndarray, input_shape) -> bool:
    """Images only where the model takes images: an (H, W, C) input, fed (N, H, W) or (N, H, W, C).
    Without a model shape, what :func:`looks_like_images` says."""
    if raw.ndim not in (3, 4):
        return False
    return looks_like_images(raw) if input_shape is None else len(tuple(input_shape)) == 3


def looks_like_images(x: np.ndarray) -> bool:
    """Whether samples with no model to ask are images: ``(N, H, W, C)`` with 1, 3 or 4 channels, or
    ``(N, H, W)`` greyscale with both sides at least 8 px, at most 4:1, and no negative value.
    Other rank-3 data, such as ``(N, 50, 3)`` sensor windows, are sequences ``(N, T, F)``."""
    if x.ndim == 4:
        return x.shape[-1] in (1, 3, 4)
    if x.ndim != 3:
        return False
    short, long = sorted(x.shape[1:])
    return short >= 8 and long <= 4 * short and (x.size == 0 or float(np.min(x)) >= 0)


def _as_given(raw, input_shape, name: str):
    """Features, sequences ``(N, T, F)``, token ids or one array per input name, as the model will
    see them. Flat float features are standardized (the default for tables); sequences, token ids
    and several inputs are fed as given, and a shape that does not fit the model is refused."""
    if isinstance(raw, dict):
        lo = min(float(np.min(v)) for v in raw.values())
        hi = max(float(np.max(v)) for v in raw.values())
        return raw, Normalization(mean=0.0, std=1.0, raw_range=(lo, hi))
    if input_shape is not None:
        want = tuple(input_shape)
        if len(want) != raw.ndim - 1 or any(w is not None and int(w) != g for w, g in zip(want, raw.shape[1:])):
            raise EdgekitError(f"{name}: the samples are {tuple(raw.shape[1:])} but the model takes "
                               f"{tuple(None if w is None else int(w) for w in want)}; give data shaped like "
                               "the model's input (nothing is resized or reshaped).")
    if np.issubdtype(raw.dtype, np.integer) or raw.ndim >= 3:
        kept = raw if np.issubdtype(raw.dtype, np.integer) else raw.astype(np.float32)
        return kept, Normalization(mean=0.0, std=1.0, raw_range=(float(raw.min()), float(raw.max())))
    normalization = _fit_normalization(raw)
    return normalization.apply(raw.astype(np.float32)).astype(np.float32), normalization


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
    return Dataset(name, take(x, train), y[train], take(x, val), y[val], take(x, test), y[test], normalization, names)


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
            if "y" not in f or len(f.files) < 2:
                raise EdgekitError(f"{p}: an .npz dataset needs arrays 'x' and 'y', or one array per input name "
                                   f"and 'y' (found {', '.join(f.files) or 'none'}).")
            # 'x' for one input; otherwise one array per input name (a model with several inputs)
            x = f["x"] if "x" in f else {k: f[k] for k in f.files if k != "y"}
            if isinstance(x, dict) and len(x) == 1:  # one array under the input's name: the model's one input
                x = next(iter(x.values()))
            y = f["y"]
    except EdgekitError:
        raise
    except Exception as e:  # noqa: BLE001 - zipfile/pickle/format errors all mean "not a usable npz"
        raise EdgekitError(f"{p}: not a readable .npz file ({type(e).__name__}: {first_line(str(e))}).") from e
    for k, v in (x.items() if isinstance(x, dict) else [("x", x)]):
        _check_arrays(v, y, f"{p} ({k})" if isinstance(x, dict) else str(p))
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
    def kept(v):  # token ids stay integers; everything else becomes float32
        return v.astype(np.int64) if np.issubdtype(v.dtype, np.integer) and v.ndim in (2,) else v.astype(np.float32)

    x = {k: kept(v) for k, v in x.items()} if isinstance(x, dict) else kept(x)
    return x, y.astype(np.int64), names


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
    return _own_channels(raw), np.asarray(labels, np.int64), [d.name for d in class_dirs]


def _own_channels(raw: np.ndarray) -> np.ndarray:
    """RGB images ``(N, H, W, 3)`` as the folder holds them: one channel when every image is grey
    (its three channels equal, whatever mode it was saved in), else the three. A model built for
    the folder then takes the channels its images have (a grey set is not trained as three copies
    of one channel, and colour is never averaged away); a model of fixed channels gets them
    converted by :func:`_to_image_batch`, which says so."""
    grey = bool(np.array_equal(raw[..., 0], raw[..., 1]) and np.array_equal(raw[..., 1], raw[..., 2]))
    return raw[..., :1] if grey else raw


def _to_image_batch(raw: np.ndarray, input_shape, warn=None, name: str = "the data") -> np.ndarray:
    """(N, H, W) or (N, H, W, C) to (N, H', W', C') for the model's input shape (channels ``None``:
    the images' own); ``warn`` is told when the images are resized or their channels converted (a
    user's images: the built-in digits are made to be resized)."""
    if raw.ndim == 3:
        raw = raw[..., None]
    if input_shape is None:
        return raw.astype(np.float32)
    if len(input_shape) != 3:
        raise EdgekitError(f"the data are images but the model expects input shape {tuple(input_shape)}; "
                           "give an image model or flat features.")
    h, w = (int(d) for d in input_shape[:2])
    c = raw.shape[-1] if input_shape[2] is None else int(input_shape[2])  # None: the images' own channels
    if raw.shape[1:3] != (h, w):
        if warn is not None:
            warn(f"{name}: the images are {raw.shape[1]}x{raw.shape[2]}; resized to the model's {h}x{w}.")
        raw = _resize(raw, h, w)
    if raw.shape[-1] != c:
        if raw.shape[-1] == 1:
            raw = np.repeat(raw, c, axis=-1)
            said = f"grey (1 channel) but the model takes {c}: the grey level is repeated in each channel"
        elif c == 1:
            said = (f"in colour ({raw.shape[-1]} channels) but the model takes 1: they are read as grey, and "
                    "what only the colour tells apart is lost")
            raw = raw[..., :3].mean(axis=-1, keepdims=True)
        else:
            raise EdgekitError(f"{name}: the images have {raw.shape[-1]} channels; the model takes {c}.")
        if warn is not None:
            warn(f"{name}: the images are {said}.")
    return raw.astype(np.float32)


def _resize(raw: np.ndarray, h: int, w: int) -> np.ndarray:
    from PIL import Image

    out = np.empty((raw.shape[0], h, w, raw.shape[-1]), np.float32)
    for i, img in enumerate(raw):
        for ch in range(img.shape[-1]):
            out[i, :, :, ch] = np.asarray(Image.fromarray(img[:, :, ch].astype(np.float32), mode="F").resize((w, h), Image.BILINEAR))
    return out
