"""Audio folders: one subfolder per class of ``.wav`` clips, turned into front-end features.

Clips are read as float in [-1, 1] (integer PCM divided by its full scale), stereo is mixed
down, other sample rates are resampled (polyphase, :func:`scipy.signal.resample_poly`), and
clips are padded with silence or cut to ``clip_ms``; each file that needed one of these gets
one line saying so. A subfolder named ``_background_noise_`` (Speech Commands' convention) is
not a class: its recordings are the noise the augmentation mixes in (white noise without it).

Augmentation (:class:`AudioAugment`) adds seeded copies of the *training* clips, each shifted
in time, mixed with background noise at a set SNR and scaled by a random gain; validation and
test clips are never augmented. The features' normalization (one mean and std) is fitted on the
training split and saved, with the front-end knobs, as the dataset's ``preprocessing``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from edgekit.artifact import Normalization
from edgekit.data.frontend import FrontendConfig, compute_features
from edgekit.errors import EdgekitError, first_line

NOISE_FOLDER = "_background_noise_"
MAX_NOTES = 20  # problem-file lines printed before summarizing the rest


class AudioAugment(BaseModel):
    """Seeded augmentation of training clips (``copies`` = 0 turns it off)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    copies: int = 0
    shift_ms: float = 100.0  # uniform in [-shift_ms, +shift_ms], the gap filled with silence
    snr_db: float = 10.0  # background noise mixed in at this signal-to-noise ratio
    gain_db: float = 6.0  # uniform in [-gain_db, +gain_db]
    seed: int = 0


def audio_augment(**knobs) -> AudioAugment:
    """An :class:`AudioAugment` from user knobs, with a one-line error for a bad one."""
    try:
        aug = AudioAugment(**knobs)
    except ValueError as e:
        errs = getattr(e, "errors", lambda: [])()
        msg = "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in errs) or first_line(e)
        raise EdgekitError(f"audio augmentation: {msg} (knobs: {', '.join(AudioAugment.model_fields)}).") from None
    if aug.copies < 0 or aug.shift_ms < 0 or aug.gain_db < 0:
        raise EdgekitError("audio augmentation: copies, shift_ms and gain_db must be >= 0.")
    return aug


def read_wav(path: Path, cfg: FrontendConfig) -> tuple[np.ndarray, list[str]]:
    """One clip as ``clip_samples`` float32 samples, and what was done to it."""
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    try:
        with np.errstate(all="ignore"):
            rate, data = wavfile.read(str(path))
    except Exception as e:  # noqa: BLE001 - scipy raises ValueError/EOFError/... for broken files
        reason = first_line(e)
        raise EdgekitError(f"{path}: not a readable .wav file ({reason}); remove or replace it.") from None
    notes = []
    if data.size == 0:
        raise EdgekitError(f"{path}: the .wav file holds no samples; remove or replace it.")
    if data.dtype.kind == "i":
        audio = data.astype(np.float32) / float(-np.iinfo(data.dtype).min)
    elif data.dtype.kind == "u":  # 8-bit PCM is unsigned around 128
        audio = (data.astype(np.float32) - 128.0) / 128.0
    else:
        audio = data.astype(np.float32)
    if audio.ndim == 2:
        notes.append(f"{audio.shape[1]} channels mixed down")
        audio = audio.mean(axis=1)
    if not np.all(np.isfinite(audio)):
        raise EdgekitError(f"{path}: the .wav file holds NaN or infinite samples; remove or replace it.")
    if rate != cfg.sample_rate:
        g = np.gcd(int(rate), cfg.sample_rate)
        audio = resample_poly(audio, cfg.sample_rate // g, int(rate) // g).astype(np.float32)
        notes.append(f"{rate} Hz resampled to {cfg.sample_rate} Hz")
    n = cfg.clip_samples
    if len(audio) > n:
        notes.append(f"{len(audio) / cfg.sample_rate:.2f} s cut to {cfg.clip_ms / 1000:.2f} s")
        audio = audio[:n]
    elif len(audio) < n:
        notes.append(f"{len(audio) / cfg.sample_rate:.2f} s padded to {cfg.clip_ms / 1000:.2f} s")
        audio = np.pad(audio, (0, n - len(audio)))
    return audio.astype(np.float32), notes


def read_audio_folder(p: Path, cfg: FrontendConfig, say=None):
    """Waveforms ``(n, clip_samples)``, labels, class names and the background noise recordings."""
    say = say or (lambda line: print(line, file=sys.stderr))
    class_dirs = sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name != NOISE_FOLDER)
    if len(class_dirs) < 2:
        raise EdgekitError(f"{p}: an audio folder needs one subfolder of .wav clips per class and at least two "
                           f"classes (found {len(class_dirs)}).")
    waves, labels, noted = [], [], 0
    for label, d in enumerate(class_dirs):
        files = sorted(f for f in d.iterdir() if f.suffix.lower() == ".wav")
        if not files:
            raise EdgekitError(f"{d}: class folder has no .wav clips.")
        for f in files:
            audio, notes = read_wav(f, cfg)
            if notes:
                noted += 1
                if noted <= MAX_NOTES:
                    say(f"{f}: {', '.join(notes)}")
            waves.append(audio)
            labels.append(label)
    if noted > MAX_NOTES:
        say(f"... and {noted - MAX_NOTES} more clips resampled, mixed down, padded or cut")
    noise = []
    if (p / NOISE_FOLDER).is_dir():
        for f in sorted((p / NOISE_FOLDER).glob("*.wav")):
            long = cfg.model_copy(update={"clip_ms": 10**7})  # keep noise recordings whole
            audio, _ = read_wav(f, long)
            noise.append(np.trim_zeros(audio, "b") if np.any(audio) else audio[: cfg.clip_samples])
    return np.stack(waves), np.asarray(labels, np.int64), [d.name for d in class_dirs], noise


def augment(waves: np.ndarray, aug: AudioAugment, cfg: FrontendConfig, noise: list[np.ndarray]) -> np.ndarray:
    """``aug.copies`` shifted, noise-mixed, gain-scaled copies of each clip (seeded)."""
    rng = np.random.default_rng(aug.seed)
    n = waves.shape[1]
    out = []
    max_shift = int(round(aug.shift_ms * cfg.sample_rate / 1000.0))
    for _ in range(aug.copies):
        for w in waves:
            s = int(rng.integers(-max_shift, max_shift + 1)) if max_shift else 0
            shifted = np.zeros_like(w)
            if s >= 0:
                shifted[s:] = w[: n - s]
            else:
                shifted[:s] = w[-s:]
            if noise:
                rec = noise[int(rng.integers(len(noise)))]
                rec = np.resize(rec, n) if len(rec) < n else rec
                start = int(rng.integers(0, len(rec) - n + 1))
                bg = rec[start : start + n].astype(np.float64)
            else:
                bg = rng.normal(0.0, 1.0, n)
            p_sig = float(np.mean(shifted.astype(np.float64) ** 2)) or 1e-12
            p_bg = float(np.mean(bg**2)) or 1e-12
            mixed = shifted + bg * np.sqrt(p_sig / (p_bg * 10 ** (aug.snr_db / 10.0)))
            gain = 10 ** (rng.uniform(-aug.gain_db, aug.gain_db) / 20.0)
            out.append(np.clip(mixed * gain, -1.0, 1.0).astype(np.float32))
    return np.stack(out) if out else np.zeros((0, n), np.float32)


def load_audio_folder(p: Path, seed: int, val_fraction: float, test_fraction: float,
                      preprocessing: dict | None = None, frontend: dict | None = None,
                      augmentation: dict | None = None):
    """A :class:`~edgekit.data.datasets.Dataset` of features from an audio folder.

    ``preprocessing`` (saved by an earlier run: model.json) fixes the front end and the
    normalization; otherwise ``frontend`` knobs (defaults: MLPerf Tiny's 49 x 10 MFCCs) apply
    and the normalization is fitted on the training split.
    """
    from edgekit.data.datasets import Dataset, _split
    from edgekit.data.frontend import frontend_config

    saved = preprocessing if preprocessing and preprocessing.get("kind") == "audio" else None
    cfg = frontend_config(**(saved["frontend"] if saved else (frontend or {})))
    aug = audio_augment(**(augmentation or {})) if not saved else AudioAugment()
    waves, y, names, noise = read_audio_folder(p, cfg)
    idx = _split(p.name, np.arange(len(y)), y, names, Normalization(), seed, val_fraction, test_fraction)
    tr, va, te = idx.x_train, idx.x_val, idx.x_test
    train_waves, y_train = waves[tr], y[tr]
    if aug.copies:
        extra = augment(train_waves, aug, cfg, noise)
        train_waves = np.concatenate([train_waves, extra])
        y_train = np.concatenate([y_train] + [y[tr]] * aug.copies)
    f_train = compute_features(train_waves, cfg)
    if saved:
        normalization = Normalization(**saved["normalization"])
    else:
        normalization = Normalization(mean=float(f_train.mean()), std=float(f_train.std()) or 1.0,
                                      raw_range=(float(f_train.min()), float(f_train.max())))

    def norm(f):
        return normalization.apply(f).astype(np.float32)

    prep = {"kind": "audio", "frontend": cfg.model_dump(), "normalization": normalization.model_dump(),
            "augmentation": aug.model_dump() if aug.copies else None,
            "input": "features = edgekit.data.frontend.compute_features(clip); x = (features - mean) / std"}
    ds = Dataset(p.name, norm(f_train), y_train, norm(compute_features(waves[va], cfg)), y[va],
                 norm(compute_features(waves[te], cfg)), y[te], normalization, names)
    ds.preprocessing = prep
    return ds
