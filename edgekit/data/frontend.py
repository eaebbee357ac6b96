"""The audio front end: waveform to log-mel or MFCC features, in NumPy, and the same
computation as portable C for the microcontroller bundle.

The recipe (MLPerf Tiny keyword spotting's defaults): periodic Hann windows of ``window_ms``
every ``stride_ms``, a ``fft_length``-point magnitude spectrum, a triangular mel filterbank
(HTK mel scale, ``mel_bins`` filters from ``lower_hz`` to ``upper_hz``, the construction of
``tf.signal.linear_to_mel_weight_matrix``), ``log(mel + log_offset)``, and, when
``num_mfccs`` > 0, an orthonormal-scaled DCT-II keeping ``num_mfccs`` coefficients
(``num_mfccs=0`` keeps the log-mel energies). One second at 16 kHz gives 49 x 10.

Training computes features here (float64, then float32); the device computes them with
:func:`frontend_sources`' ``frontend.c``, which uses the very same window, filterbank and DCT
tables (written into ``frontend.h`` as constants, so no platform's ``cosf``/``logf`` changes
the tables) and a float32 radix-2 FFT. ``tests/test_data_audio.py`` compiles it with gcc and
compares.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from edgekit.errors import EdgekitError, first_line


class FrontendConfig(BaseModel):
    """The front end's knobs; stored in model.json and the exported model's metadata."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    sample_rate: int = 16000
    clip_ms: int = 1000
    window_ms: float = 30.0
    stride_ms: float = 20.0
    fft_length: int = 512
    mel_bins: int = 40
    num_mfccs: int = 10  # 0: log-mel features
    lower_hz: float = 20.0
    upper_hz: float = 4000.0
    log_offset: float = 1e-6

    @model_validator(mode="after")
    def _check(self):
        w = self.window_samples
        if self.sample_rate <= 0 or self.clip_ms <= 0 or w <= 0 or self.stride_samples <= 0:
            raise ValueError("sample_rate, clip_ms, window_ms and stride_ms must be positive")
        if self.fft_length < w or self.fft_length & (self.fft_length - 1):
            raise ValueError(f"fft_length must be a power of two >= the window ({w} samples), got {self.fft_length}")
        if not 0 <= self.lower_hz < self.upper_hz <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= lower_hz < upper_hz <= sample_rate/2, got {self.lower_hz}, {self.upper_hz}")
        if self.mel_bins <= 0 or not 0 <= self.num_mfccs <= self.mel_bins:
            raise ValueError("need mel_bins > 0 and 0 <= num_mfccs <= mel_bins")
        if self.frames < 1:
            raise ValueError(f"a {self.clip_ms} ms clip is shorter than one {self.window_ms} ms window")
        return self

    @property
    def window_samples(self) -> int:
        return int(round(self.sample_rate * self.window_ms / 1000.0))

    @property
    def stride_samples(self) -> int:
        return int(round(self.sample_rate * self.stride_ms / 1000.0))

    @property
    def clip_samples(self) -> int:
        return int(round(self.sample_rate * self.clip_ms / 1000.0))

    @property
    def frames(self) -> int:
        return 1 + (self.clip_samples - self.window_samples) // self.stride_samples

    @property
    def coefficients(self) -> int:
        return self.num_mfccs or self.mel_bins

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        return (self.frames, self.coefficients, 1)


def frontend_config(**knobs) -> FrontendConfig:
    """A :class:`FrontendConfig` from user knobs, with a one-line error for a bad one."""
    try:
        return FrontendConfig(**knobs)
    except ValueError as e:  # pydantic's ValidationError is a ValueError
        errs = getattr(e, "errors", lambda: [])()
        msg = "; ".join(f"{'.'.join(map(str, x['loc'])) or 'front end'}: {x['msg']}" for x in errs) or str(e)
        raise EdgekitError(f"audio front end: {first_line(msg)}") from None


def hann_window(n: int) -> np.ndarray:
    """Periodic Hann window (as ``tf.signal.hann_window(periodic=True)``)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def _hz_to_mel(hz):
    return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)


def mel_matrix(cfg: FrontendConfig) -> np.ndarray:
    """``(fft_length // 2 + 1, mel_bins)`` triangular filters on the HTK mel scale, the
    construction of ``tf.signal.linear_to_mel_weight_matrix`` (the DC bin gets no weight)."""
    bins = cfg.fft_length // 2 + 1
    hz = np.linspace(0.0, cfg.sample_rate / 2.0, bins)[1:]
    mel = _hz_to_mel(hz)[:, None]
    edges = np.linspace(_hz_to_mel(cfg.lower_hz), _hz_to_mel(cfg.upper_hz), cfg.mel_bins + 2)
    lower, center, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    w = np.maximum(0.0, np.minimum((mel - lower) / (center - lower), (upper - mel) / (upper - center)))
    return np.vstack([np.zeros((1, cfg.mel_bins)), w])


def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_in, n_out)`` DCT-II scaled as ``tf.signal.mfccs_from_log_mel_spectrograms``."""
    n = np.arange(n_in)[:, None]
    k = np.arange(n_out)[None, :]
    return np.cos(np.pi / n_in * (n + 0.5) * k) * np.sqrt(2.0 / n_in)


def compute_features(waveforms: np.ndarray, cfg: FrontendConfig, batch: int = 512) -> np.ndarray:
    """``(n, clip_samples)`` float waveforms in [-1, 1] to ``(n, frames, coefficients, 1)`` float32."""
    w = np.asarray(waveforms, np.float64)
    if w.ndim != 2 or w.shape[1] != cfg.clip_samples:
        raise EdgekitError(f"front end: waveforms must be (clips, {cfg.clip_samples}), got {w.shape}.")
    win, stride, frames = cfg.window_samples, cfg.stride_samples, cfg.frames
    window = hann_window(win)
    mel = mel_matrix(cfg)
    dct = dct_matrix(cfg.mel_bins, cfg.num_mfccs) if cfg.num_mfccs else None
    idx = np.arange(frames)[:, None] * stride + np.arange(win)[None, :]
    out = []
    for i in range(0, len(w), batch):
        framed = w[i : i + batch][:, idx] * window  # (b, frames, win)
        mag = np.abs(np.fft.rfft(framed, n=cfg.fft_length, axis=-1))
        feats = np.log(mag @ mel + cfg.log_offset)
        if dct is not None:
            feats = feats @ dct
        out.append(feats)
    return np.concatenate(out)[..., None].astype(np.float32) if out else np.zeros((0,) + cfg.feature_shape, np.float32)


# ---------------------------------------------------------------------------------------------
# the device's copy: frontend.h (constants) and frontend.c (the computation)


def _c_floats(values, per_line: int = 8) -> str:
    vals = [f"{float(v):.9e}f" for v in np.asarray(values, np.float32).ravel()]
    return ",\n".join("  " + ", ".join(vals[i : i + per_line]) for i in range(0, len(vals), per_line))


def frontend_sources(cfg: FrontendConfig, mean: float = 0.0, std: float = 1.0, input_scale: float | None = None,
                     input_zero_point: int | None = None) -> dict[str, str]:
    """``frontend.h`` and ``frontend.c``: the front end for the device, for these knobs.

    ``mean``/``std`` are the model's normalization (``x = (feature - mean) / std``) and
    ``input_scale``/``input_zero_point`` its int8 input quantization, so
    ``ek_frontend_int8`` hands TFLM the model's input tensor directly."""
    bins = cfg.fft_length // 2 + 1
    mel = mel_matrix(cfg)
    starts, lengths, weights = [], [], []
    for m in range(cfg.mel_bins):
        nz = np.flatnonzero(mel[:, m])
        first, last = (int(nz[0]), int(nz[-1])) if len(nz) else (0, -1)
        starts.append(first)
        lengths.append(last - first + 1)
        weights.extend(mel[first : last + 1, m])
    k = np.arange(cfg.fft_length // 2)
    dct = dct_matrix(cfg.mel_bins, cfg.num_mfccs) if cfg.num_mfccs else np.zeros((1, 1))
    scale = float(input_scale) if input_scale else 1.0
    zp = int(input_zero_point or 0)
    h = f"""/* Audio front end generated by edgekit for these knobs; features match training's
 * edgekit.data.frontend.compute_features (see mcu.json / model metadata "preprocessing"). */
#ifndef EDGEKIT_FRONTEND_H_
#define EDGEKIT_FRONTEND_H_
#include <stdint.h>

#define EK_FE_SAMPLE_RATE {cfg.sample_rate}
#define EK_FE_CLIP_SAMPLES {cfg.clip_samples}
#define EK_FE_WINDOW {cfg.window_samples}
#define EK_FE_STRIDE {cfg.stride_samples}
#define EK_FE_FFT {cfg.fft_length}
#define EK_FE_BINS {bins}
#define EK_FE_MEL {cfg.mel_bins}
#define EK_FE_MFCC {cfg.num_mfccs} /* 0: log-mel features */
#define EK_FE_FRAMES {cfg.frames}
#define EK_FE_COEFFS {cfg.coefficients}
#define EK_FE_FEATURES (EK_FE_FRAMES * EK_FE_COEFFS)
#define EK_FE_LOG_OFFSET {cfg.log_offset!r}f
#define EK_FE_MEAN {float(mean)!r}f
#define EK_FE_STD {float(std)!r}f
#define EK_FE_INPUT_SCALE {scale!r}f
#define EK_FE_INPUT_ZERO_POINT {zp}

#ifdef __cplusplus
extern "C" {{
#endif
/* audio: EK_FE_CLIP_SAMPLES samples in [-1, 1]; out: EK_FE_FRAMES x EK_FE_COEFFS, frame-major. */
void ek_frontend_features(const float* audio, float* out);
/* The same from 16-bit PCM (divided by 32768, as training reads .wav files). */
void ek_frontend_features_pcm16(const int16_t* pcm, float* out);
/* Features normalized and quantized: the model's int8 input tensor. */
void ek_frontend_int8(const float* audio, int8_t* out);
#ifdef __cplusplus
}}
#endif
#endif
"""
    c = f"""/* Audio front end generated by edgekit: Hann window, radix-2 FFT magnitude, mel filterbank,
 * log, DCT-II. Plain C99, float32, no dynamic memory (one frame of scratch on the stack). */
#include "frontend.h"
#include <math.h>

static const float kWindow[EK_FE_WINDOW] = {{
{_c_floats(hann_window(cfg.window_samples))}
}};
static const float kCos[EK_FE_FFT / 2] = {{
{_c_floats(np.cos(2 * np.pi * k / cfg.fft_length))}
}};
static const float kSin[EK_FE_FFT / 2] = {{
{_c_floats(np.sin(2 * np.pi * k / cfg.fft_length))}
}};
static const int16_t kMelStart[EK_FE_MEL] = {{ {", ".join(map(str, starts))} }};
static const int16_t kMelLength[EK_FE_MEL] = {{ {", ".join(map(str, lengths))} }};
static const float kMelWeights[{max(1, len(weights))}] = {{
{_c_floats(weights or [0.0])}
}};
static const float kDct[{dct.size}] = {{ /* EK_FE_MEL x EK_FE_MFCC, row-major */
{_c_floats(dct)}
}};

static void fft(float* re, float* im) {{
  int n = EK_FE_FFT, i, j = 0, len, k;
  for (i = 1; i < n; i++) {{ /* bit reversal */
    int bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {{
      float t = re[i]; re[i] = re[j]; re[j] = t;
      t = im[i]; im[i] = im[j]; im[j] = t;
    }}
  }}
  for (len = 2; len <= n; len <<= 1) {{
    int step = n / len;
    for (i = 0; i < n; i += len) {{
      for (k = 0; k < len / 2; k++) {{
        float wr = kCos[k * step], wi = -kSin[k * step];
        float *ar = re + i + k, *ai = im + i + k, *br = re + i + k + len / 2, *bi = im + i + k + len / 2;
        float tr = *br * wr - *bi * wi, ti = *br * wi + *bi * wr;
        *br = *ar - tr; *bi = *ai - ti;
        *ar += tr; *ai += ti;
      }}
    }}
  }}
}}

void ek_frontend_features(const float* audio, float* out) {{
  float re[EK_FE_FFT], im[EK_FE_FFT], mag[EK_FE_BINS], logmel[EK_FE_MEL];
  int f, i, m, c;
  for (f = 0; f < EK_FE_FRAMES; f++) {{
    const float* x = audio + f * EK_FE_STRIDE;
    for (i = 0; i < EK_FE_FFT; i++) {{
      re[i] = i < EK_FE_WINDOW ? x[i] * kWindow[i] : 0.0f;
      im[i] = 0.0f;
    }}
    fft(re, im);
    for (i = 0; i < EK_FE_BINS; i++) mag[i] = sqrtf(re[i] * re[i] + im[i] * im[i]);
    {{
      const float* w = kMelWeights;
      for (m = 0; m < EK_FE_MEL; m++) {{
        float acc = 0.0f;
        for (i = 0; i < kMelLength[m]; i++) acc += mag[kMelStart[m] + i] * w[i];
        w += kMelLength[m];
        logmel[m] = logf(acc + EK_FE_LOG_OFFSET);
      }}
    }}
    for (c = 0; c < EK_FE_COEFFS; c++) {{
      float acc = 0.0f;
      if (EK_FE_MFCC == 0) {{
        acc = logmel[c];
      }} else {{
        for (m = 0; m < EK_FE_MEL; m++) acc += logmel[m] * kDct[m * (EK_FE_MFCC ? EK_FE_MFCC : 1) + c];
      }}
      out[f * EK_FE_COEFFS + c] = acc;
    }}
  }}
}}

void ek_frontend_features_pcm16(const int16_t* pcm, float* out) {{
  static float audio[EK_FE_CLIP_SAMPLES];
  int i;
  for (i = 0; i < EK_FE_CLIP_SAMPLES; i++) audio[i] = (float)pcm[i] / 32768.0f;
  ek_frontend_features(audio, out);
}}

void ek_frontend_int8(const float* audio, int8_t* out) {{
  static float feats[EK_FE_FEATURES];
  int i;
  ek_frontend_features(audio, feats);
  for (i = 0; i < EK_FE_FEATURES; i++) {{
    float q = roundf((feats[i] - EK_FE_MEAN) / EK_FE_STD / EK_FE_INPUT_SCALE) + EK_FE_INPUT_ZERO_POINT;
    out[i] = (int8_t)(q < -128.0f ? -128.0f : (q > 127.0f ? 127.0f : q));
  }}
}}
"""
    return {"frontend.h": h, "frontend.c": c}


def quantize_like_device(features: np.ndarray, mean: float, std: float, scale: float, zero_point: int) -> np.ndarray:
    """What ``ek_frontend_int8`` does to features, in NumPy (for comparisons)."""
    q = np.round((np.asarray(features, np.float32) - mean) / std / scale) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)
