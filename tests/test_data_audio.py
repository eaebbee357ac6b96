"""Audio folders: .wav clips to front-end features, keyword spotting trained from them, and the
device's C front end (shipped in the MCU bundle) computing the same features.

The clips are spoken by espeak-ng (tests/_speech.py, as the DS-CNN claim test), with background
noise; some are written at 22.05 kHz stereo and some shorter than a second, so the loader's
resampling, mix-down and padding are part of the run.
"""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from _speech import spoken_clips

from edgekit.data import load_dataset
from edgekit.data.audio import read_wav
from edgekit.data.frontend import FrontendConfig, compute_features, frontend_sources, quantize_like_device
from edgekit.errors import EdgekitError

WORDS = ("yes", "no", "up", "down")
MAIN_C = r"""
#include <stdio.h>
#include "frontend.h"
/* Reads float32 clips from argv[1]; writes float32 features to argv[2], int8 inputs to argv[3]. */
int main(int argc, char** argv) {
  static float a[EK_FE_CLIP_SAMPLES], f[EK_FE_FEATURES];
  static int8_t q[EK_FE_FEATURES];
  FILE *in, *fo, *qo;
  if (argc != 4) return 2;
  in = fopen(argv[1], "rb"); fo = fopen(argv[2], "wb"); qo = fopen(argv[3], "wb");
  while (fread(a, sizeof(float), EK_FE_CLIP_SAMPLES, in) == EK_FE_CLIP_SAMPLES) {
    ek_frontend_features(a, f);
    ek_frontend_int8(a, q);
    fwrite(f, sizeof(float), EK_FE_FEATURES, fo);
    fwrite(q, 1, EK_FE_FEATURES, qo);
  }
  fclose(in); fclose(fo); fclose(qo);
  return 0;
}
"""


def _write_wav(path: Path, audio: np.ndarray, rate: int = 16000):
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(pcm.shape[1] if pcm.ndim == 2 else 1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


@pytest.fixture(scope="module")
def keyword_folder(tmp_path_factory):
    from scipy.signal import resample_poly

    x, y = spoken_clips(WORDS, seed=0)
    root = tmp_path_factory.mktemp("keywords")
    for i, (clip, word) in enumerate(zip(x, y)):
        d = root / word
        d.mkdir(exist_ok=True)
        if i % 10 == 3:  # 22.05 kHz stereo
            up = resample_poly(clip, 441, 320)
            _write_wav(d / f"{i:04d}.wav", np.stack([up, up * 0.9], axis=1), 22050)
        elif i % 10 == 7:  # 0.9 s: padded
            _write_wav(d / f"{i:04d}.wav", clip[:14400])
        else:
            _write_wav(d / f"{i:04d}.wav", clip)
    (root / "_background_noise_").mkdir()
    rng = np.random.default_rng(1)
    brown = np.cumsum(rng.normal(0, 1, 48000))
    brown = (brown - np.convolve(brown, np.ones(400) / 400, "same")) / 60.0  # rumble without drift
    _write_wav(root / "_background_noise_" / "rumble.wav", np.clip(brown, -1, 1))
    return root


def _gcc_frontend(files: dict, clips: np.ndarray, tmp: Path, n_features: int):
    for name, text in files.items():
        (tmp / name).write_text(text)
    (tmp / "main.c").write_text(MAIN_C)
    exe = tmp / "fe"
    r = subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Werror", "-o", str(exe), str(tmp / "main.c"),
                        str(tmp / "frontend.c"), "-lm"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    np.asarray(clips, np.float32).tofile(tmp / "clips.bin")
    subprocess.run([str(exe), str(tmp / "clips.bin"), str(tmp / "f.bin"), str(tmp / "q.bin")], check=True)
    f = np.fromfile(tmp / "f.bin", np.float32).reshape(len(clips), -1)
    q = np.fromfile(tmp / "q.bin", np.int8).reshape(len(clips), -1)
    assert f.shape[1] == n_features
    return f, q


# Tolerance: the C front end runs in float32 (a radix-2 FFT) where training used NumPy's float64
# FFT; with the same tables, the features differ by float32 rounding, amplified by the log where
# a mel energy is small. 1e-3 absolute is 1/20 of an int8 input step here (MFCC scale ~0.02 per
# level after normalization), so what the device feeds the model may differ from training only
# where a value sits on a rounding boundary: at most one level, and on under 0.5% of inputs.
FEATURE_ATOL = 1e-3


def test_c_front_end_matches_numpy_for_log_mel_knobs(keyword_folder, tmp_path):
    cfg = FrontendConfig(window_ms=25, stride_ms=10, mel_bins=32, num_mfccs=0, upper_hz=7600, clip_ms=1000)
    clips = np.stack([read_wav(f, cfg)[0] for f in sorted((keyword_folder / "yes").glob("*.wav"))[:12]])
    train = compute_features(clips, cfg).reshape(len(clips), -1)
    mean, std = float(train.mean()), float(train.std())
    f, q = _gcc_frontend(frontend_sources(cfg, mean, std, 0.05, -3), clips, tmp_path, cfg.frames * cfg.mel_bins)
    assert cfg.feature_shape == (98, 32, 1)
    print(f"log-mel C vs NumPy: max |diff| {np.max(np.abs(f - train)):.3g}")
    assert np.max(np.abs(f - train)) <= FEATURE_ATOL
    dq = np.abs(q.astype(int) - quantize_like_device(train, mean, std, 0.05, -3).astype(int))
    assert dq.max() <= 1 and np.mean(dq > 0) < 0.005


def test_audio_folder_reads_resamples_and_says_so_in_one_line_per_file(keyword_folder, capsys):
    ds = load_dataset(keyword_folder, frontend={"num_mfccs": 10}, augmentation={"copies": 1, "snr_db": 10})
    err = capsys.readouterr().err.splitlines()
    assert any("22050 Hz resampled to 16000 Hz" in ln and "2 channels mixed down" in ln for ln in err)
    assert any("0.90 s padded to 1.00 s" in ln for ln in err)
    assert ds.class_names == sorted(WORDS) and ds.input_shape == (49, 10, 1)
    assert len(ds.x_train) == 2 * (len(ds.x_train) // 2)  # one augmented copy per training clip
    assert ds.preprocessing["frontend"]["num_mfccs"] == 10 and ds.preprocessing["augmentation"]["snr_db"] == 10


def test_bad_wav_is_one_line_naming_the_file(tmp_path):
    for w in ("a", "b"):
        (tmp_path / w).mkdir()
        _write_wav(tmp_path / w / "ok.wav", np.zeros(16000))
    (tmp_path / "b" / "broken.wav").write_bytes(b"RIFF\x00\x00garbage")
    with pytest.raises(EdgekitError) as e:
        load_dataset(tmp_path)
    assert "broken.wav" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(EdgekitError, match="audio front end: .*fft_length"):
        load_dataset(tmp_path, frontend={"window_ms": 40, "fft_length": 512})  # 640 samples > 512
    with pytest.raises(EdgekitError, match="audio augmentation: .*snr"):
        load_dataset(tmp_path, augmentation={"snr": 3})


def test_augmentation_is_seeded_and_mixes_noise_at_the_set_snr():
    from edgekit.data.audio import AudioAugment, augment

    cfg = FrontendConfig()
    t = np.arange(cfg.clip_samples) / cfg.sample_rate
    clips = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
    aug = AudioAugment(copies=2, shift_ms=0, gain_db=0, snr_db=10, seed=3)
    a, b = augment(clips, aug, cfg, []), augment(clips, aug, cfg, [])
    assert a.shape == (4, cfg.clip_samples) and np.array_equal(a, b)
    assert not np.array_equal(a, augment(clips, aug.model_copy(update={"seed": 4}), cfg, []))
    noise = a - np.concatenate([clips, clips])
    snr = 10 * np.log10(np.mean(np.concatenate([clips, clips]) ** 2, axis=1) / np.mean(noise**2, axis=1))
    assert np.allclose(snr, 10, atol=0.2)
    shifted = augment(clips, AudioAugment(copies=1, shift_ms=100, snr_db=200, gain_db=0, seed=0), cfg, [])
    assert not np.allclose(shifted, clips, atol=1e-3)  # moved in time (noise 200 dB down)


def test_keyword_spotting_from_wav_folder_int8_and_mcu_front_end(keyword_folder, tmp_path):
    """Issue 18's claim: ds_cnn trained from a folder of wav clips, int8 TFLite >= 90% on held-out
    clips, and the MCU bundle's C front end computes the training features."""
    from edgekit.convert import export_mcu
    from edgekit.convert.metadata import read_metadata
    from edgekit.runtime.litert import LiteRTRunner
    from edgekit.training import train

    res = train("ds_cnn", str(keyword_folder), params={"filters": 24, "blocks": 2}, out=tmp_path / "run",
                tensorboard=False, epochs=12, patience=4,
                data_options={"augmentation": {"copies": 1, "snr_db": 10, "shift_ms": 100}})
    card = (tmp_path / "run" / "model.json").read_text()
    assert '"frontend"' in card and '"window_ms": 30.0' in card
    art, mcu = export_mcu(res.model_path, str(keyword_folder), out=tmp_path / "mcu")
    ds = res.dataset
    acc = float(np.mean(LiteRTRunner(art.path).run(ds.x_test).argmax(1) == ds.y_test))
    print(f"int8 keyword accuracy {acc:.4f} on {len(ds.x_test)} held-out clips (keras {res.metrics['accuracy']:.4f}); "
          f"TFLM agreement {mcu.tflm_agreement}")
    assert acc >= 0.90
    assert {"frontend.c", "frontend.h", "preprocessing.json"} <= set(mcu.files)
    meta = read_metadata(art.path)
    assert meta["preprocessing"]["frontend"]["num_mfccs"] == 10

    # The bundle's own frontend.c on the held-out clips vs the features the model was tested on.
    cfg = FrontendConfig(**meta["preprocessing"]["frontend"])
    files = {n: (tmp_path / "mcu" / n).read_text() for n in ("frontend.c", "frontend.h")}
    from edgekit.data.audio import read_audio_folder

    waves, _, _, _ = read_audio_folder(keyword_folder, cfg, say=lambda _: None)
    clips = waves[:64]
    f, q = _gcc_frontend(files, clips, tmp_path, cfg.frames * cfg.coefficients)
    train_f = compute_features(clips, cfg).reshape(len(clips), -1)
    print(f"bundle frontend.c vs training features: max |diff| {np.max(np.abs(f - train_f)):.3g}")
    assert np.max(np.abs(f - train_f)) <= FEATURE_ATOL
    norm = meta["preprocessing"]["normalization"]
    inp = LiteRTRunner(art.path).input_spec
    dq = np.abs(q.astype(int) - quantize_like_device(train_f, norm["mean"], norm["std"], inp.scale,
                                                     inp.zero_point).astype(int))
    assert dq.max() <= 1 and np.mean(dq > 0) < 0.005
    # The whole device path: C int8 features into the int8 model, vs the training features.
    assert mcu.tflm_agreement is not None and mcu.tflm_agreement >= 0.99
    x_device = ((q.astype(np.float32) - inp.zero_point) * inp.scale).reshape((len(clips),) + cfg.feature_shape)
    x_train = ((train_f - norm["mean"]) / norm["std"]).reshape((len(clips),) + cfg.feature_shape)
    runner = LiteRTRunner(art.path)
    agree = np.mean(runner.run(x_device).argmax(1) == runner.run(x_train).argmax(1))
    print(f"device path (C int8 features) vs training features: top-1 agreement {agree:.4f} on {len(clips)} clips")
    assert agree >= 0.98, agree
