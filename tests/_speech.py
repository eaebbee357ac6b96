"""Spoken keyword clips made offline with espeak-ng (shared by the DS-CNN claim and the audio
data tests)."""

from __future__ import annotations

import numpy as np
import pytest

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
ESPEAK_APT = "apt-get install -y espeak-ng"
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp")


def _espeak() -> str:
    """espeak-ng's path, installing the Debian package when it is missing (root only)."""
    import os
    import shutil
    import subprocess

    exe = shutil.which("espeak-ng")
    if exe is None and shutil.which("apt-get") and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        r = subprocess.run(ESPEAK_APT.split() + ["-q"], capture_output=True, text=True, env=env)
        if r.returncode != 0:  # a fresh machine has no package lists yet
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
            subprocess.run(ESPEAK_APT.split() + ["-q"], capture_output=True, env=env)
        exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.fail(f"this test speaks its keywords with espeak-ng: install it with `{ESPEAK_APT}` (Debian).")
    return exe


def spoken_clips(words=KEYWORDS, seed: int = 0, voices=VOICES):
    """A small real spoken-word set: each word spoken by espeak-ng with several voices,
    variants, speeds and pitches, resampled to 16 kHz, placed at a random offset in a 1 s clip,
    with background noise at a random level. Returns (waveforms (n, 16000) float32, words)."""
    import itertools
    import subprocess
    import tempfile
    import wave

    from scipy.signal import resample_poly

    exe = _espeak()
    rng = np.random.default_rng(seed)
    variants = ("", "+m3", "+f2", "+f4")
    speeds, pitches = (130, 175), (35, 65)
    xs, ys = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for label, word in enumerate(words):
            for voice, variant, speed, pitch in itertools.product(voices, variants, speeds, pitches):
                wav = f"{tmp}/w.wav"
                subprocess.run([exe, "-w", wav, "-v", voice + variant, "-s", str(speed), "-p", str(pitch), word],
                               check=True, capture_output=True)
                with wave.open(wav) as w:
                    rate = w.getframerate()
                    audio = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0
                audio = resample_poly(audio, 16000, rate).astype(np.float32)[:16000]
                clip = np.zeros(16000, np.float32)
                start = int(rng.integers(0, 16000 - len(audio) + 1))
                clip[start : start + len(audio)] = audio
                clip += rng.normal(0, rng.uniform(0.002, 0.02), 16000).astype(np.float32)
                xs.append(clip)
                ys.append(label)
    return np.stack(xs), np.array([words[i] for i in ys])


def spoken_keywords(out_npz, seed: int = 0):
    """:func:`spoken_clips` of the ten keywords, written as an .npz (x: waveforms, y: words)."""
    x, y = spoken_clips(KEYWORDS, seed)
    np.savez(out_npz, x=x, y=y)
    return out_npz
