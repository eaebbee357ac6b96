"""DS-CNN keyword spotting (MLPerf Tiny) and an MFCC front end written in TensorFlow ops.

The front end (:class:`MFCC`) is a Keras layer, so it can sit inside the exported model
(``mfcc_in_model=True``: the model takes raw 16 kHz audio) or run as preprocessing
(:func:`mfcc_features`, the model then takes ``(frames, coefficients, 1)``).

What the converters make of it (measured with TensorFlow 2.21, tf2onnx 1.17, onnxruntime 1.32):

- ``tf.signal.mfccs_from_log_mel_spectrograms`` computes its DCT with an FFT and a *complex*
  StridedSlice: the TFLite converter rejects it without SELECT_TF_OPS ("'tf.StridedSlice' op is
  neither a custom op nor a flex op"), and tf2onnx cannot convert its ``Real`` op. The DCT here
  is therefore a constant matrix product (same numbers, to float rounding).
- ``tf.signal.stft`` (``dft="fft"``) converts to TFLite builtins (RFFT2D, COMPLEX_ABS) and runs in
  LiteRT, but tf2onnx emits a ``ComplexAbs`` node that onnxruntime has no kernel for ("No Op
  registered for ComplexAbs with domain_version of 17"), so that model does not export to ONNX.
- ``dft="matmul"`` (the default) computes the windowed DFT as a strided convolution with a
  constant cosine/sine basis: only CONV_2D, FULLY_CONNECTED, MUL, ADD, SQRT and LOG in TFLite,
  Conv/MatMul/Sqrt/Log in ONNX; both match Keras to ~2e-6. It costs frames x frame_length x
  (2 x bins) multiply-adds (about 12 M for 1 s of audio, more than the DS-CNN itself), where an
  FFT would cost far less.
- LOG and SQRT on the raw audio range do not quantize well: for a full-int8 model keep the
  front end outside (``mfcc_in_model=False``) and feed MFCCs.
"""

from __future__ import annotations

import numpy as np

from edgekit._tf import keras, tf
from edgekit.errors import EdgekitError
from edgekit.models._common import check_choice, check_positive
from edgekit.models.registry import register_model

layers = keras.layers


def _dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The (n_in, n_out) matrix of tf.signal.mfccs_from_log_mel_spectrograms' scaled DCT-II."""
    n = np.arange(n_in)[:, None]
    k = np.arange(n_out)[None, :]
    return (np.cos(np.pi / n_in * (n + 0.5) * k) * np.sqrt(2.0 / n_in)).astype("float32")


@keras.saving.register_keras_serializable(package="edgekit")
class MFCC(layers.Layer):
    """Waveform ``(batch, samples)`` to MFCCs ``(batch, frames, num_mfccs, 1)``.

    Hann-windowed frames, magnitude spectrum, mel filterbank, log, DCT-II: the recipe of
    ``tf.signal``'s MFCC guide. Defaults are MLPerf Tiny keyword spotting's: 16 kHz, 30 ms
    windows every 20 ms, 512-point DFT, 40 mel bins from 20 Hz to 4 kHz, 10 coefficients:
    1 s of audio gives 49 x 10.

    ``dft`` is ``"matmul"`` (a strided convolution with a constant DFT basis; converts to
    TFLite and ONNX) or ``"fft"`` (``tf.signal.stft``; TFLite only). See the module docstring.
    """

    def __init__(self, sample_rate=16000, frame_length=480, frame_step=320, fft_length=512, num_mel_bins=40,
                 num_mfccs=10, lower_edge_hertz=20.0, upper_edge_hertz=4000.0, log_offset=1e-6, dft="matmul",
                 **kwargs):
        super().__init__(**kwargs)
        check_choice("MFCC", "dft", dft, ("matmul", "fft"))
        if fft_length < frame_length:
            raise EdgekitError(f"MFCC: fft_length ({fft_length}) must be >= frame_length ({frame_length}).")
        if num_mfccs > num_mel_bins:
            raise EdgekitError(f"MFCC: num_mfccs ({num_mfccs}) must be <= num_mel_bins ({num_mel_bins}).")
        if not 0 <= lower_edge_hertz < upper_edge_hertz <= sample_rate / 2:
            raise EdgekitError(
                f"MFCC: need 0 <= lower_edge_hertz < upper_edge_hertz <= sample_rate/2, got "
                f"{lower_edge_hertz}, {upper_edge_hertz} at {sample_rate} Hz."
            )
        self.sample_rate = int(sample_rate)
        self.frame_length = int(frame_length)
        self.frame_step = int(frame_step)
        self.fft_length = int(fft_length)
        self.num_mel_bins = int(num_mel_bins)
        self.num_mfccs = int(num_mfccs)
        self.lower_edge_hertz = float(lower_edge_hertz)
        self.upper_edge_hertz = float(upper_edge_hertz)
        self.log_offset = float(log_offset)
        self.dft = dft
        bins = self.fft_length // 2 + 1
        self._mel = tf.signal.linear_to_mel_weight_matrix(
            self.num_mel_bins, bins, self.sample_rate, self.lower_edge_hertz, self.upper_edge_hertz
        ).numpy()
        self._dct = _dct_matrix(self.num_mel_bins, self.num_mfccs)
        if dft == "matmul":
            window = tf.signal.hann_window(self.frame_length, periodic=True).numpy()
            n = np.arange(self.frame_length)[:, None]
            k = np.arange(bins)[None, :]
            angle = 2.0 * np.pi * n * k / self.fft_length
            # (width, in_channels=1, out_channels): real parts then imaginary parts
            basis = np.concatenate([window[:, None] * np.cos(angle), -window[:, None] * np.sin(angle)], axis=1)
            self._basis = basis[:, None, :].astype("float32")

    def num_frames(self, samples: int) -> int:
        return 1 + (int(samples) - self.frame_length) // self.frame_step

    def call(self, waveform):
        bins = self.fft_length // 2 + 1
        if self.dft == "fft":
            mag = tf.abs(tf.signal.stft(waveform, self.frame_length, self.frame_step, self.fft_length))
        else:
            spec = tf.nn.conv1d(tf.expand_dims(waveform, -1), self._basis, self.frame_step, "VALID")
            re, im = spec[..., :bins], spec[..., bins:]
            mag = tf.sqrt(re * re + im * im)
        log_mel = tf.math.log(tf.matmul(mag, self._mel) + self.log_offset)
        return tf.expand_dims(tf.matmul(log_mel, self._dct), -1)

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        frames = None if samples is None else self.num_frames(samples)
        return (input_shape[0], frames, self.num_mfccs, 1)

    def macs(self) -> int:
        """Multiply-adds for one clip (needs a built layer with a known length)."""
        samples = self.input_shape[-1] if hasattr(self, "input_shape") else None
        if not samples:
            return 0
        frames, bins = self.num_frames(samples), self.fft_length // 2 + 1
        dft = frames * self.frame_length * 2 * bins if self.dft == "matmul" else 0  # FFT left out
        return int(dft + frames * bins * self.num_mel_bins + frames * self.num_mel_bins * self.num_mfccs)

    def get_config(self):
        config = super().get_config()
        config.update(
            sample_rate=self.sample_rate, frame_length=self.frame_length, frame_step=self.frame_step,
            fft_length=self.fft_length, num_mel_bins=self.num_mel_bins, num_mfccs=self.num_mfccs,
            lower_edge_hertz=self.lower_edge_hertz, upper_edge_hertz=self.upper_edge_hertz,
            log_offset=self.log_offset, dft=self.dft,
        )
        return config


def mfcc_features(waveforms, batch_size: int = 256, **mfcc_kwargs) -> np.ndarray:
    """MFCCs of ``waveforms`` (n, samples) as ``(n, frames, num_mfccs, 1)`` float32: the
    preprocessing for a ``ds_cnn`` built with ``mfcc_in_model=False`` (same defaults)."""
    waveforms = np.asarray(waveforms, dtype="float32")
    if waveforms.ndim != 2:
        raise EdgekitError(f"mfcc_features: waveforms must be (clips, samples), got shape {waveforms.shape}.")
    layer = MFCC(**mfcc_kwargs)
    out = [layer(tf.constant(waveforms[i : i + batch_size])).numpy() for i in range(0, len(waveforms), batch_size)]
    return np.concatenate(out, axis=0)


@register_model(
    task="classification",
    default_input_shape=(16000,),
    small_input_shape=(4000,),
    small_knobs={"filters": 16},
    input_kind="audio",
    paper="Zhang et al., Hello Edge: Keyword Spotting on Microcontrollers, 2017 (arXiv:1711.07128); "
    "MLPerf Tiny keyword spotting reference",
    family="ds_cnn",
)
def ds_cnn(
    input_shape=(16000,),
    num_classes: int = 12,
    filters: int = 64,
    blocks: int = 4,
    mfcc_in_model: bool = True,
    dft: str = "matmul",
    sample_rate: int = 16000,
    num_mfccs: int = 10,
    dropout: float = 0.2,
    l2: float = 1e-4,
    classifier_activation: str | None = "softmax",
    bn_momentum: float = 0.9,
    name: str | None = None,
):
    """DS-CNN: depthwise separable CNN for keyword spotting on MFCC features.

    Reference: Zhang et al., "Hello Edge: Keyword Spotting on Microcontrollers", 2017, in the
    form of MLPerf Tiny's reference (mlcommons/tiny ``keyword_spotting/keras_model.py``): a
    10x4 stride-2 conv of 64 channels, four depthwise-3x3 + pointwise-1x1 blocks, global average
    pooling, a dense classifier; 49x10 MFCCs in, 12 classes out (Speech Commands v2). Target:
    90% top-1 as int8 TFLite.

    Args:
        input_shape: with ``mfcc_in_model`` the waveform ``(samples,)`` (16000 for 1 s at
            16 kHz); without it the MFCC shape ``(frames, num_mfccs, 1)`` (49x10x1 for 1 s), or a
            ``(samples,)`` shape, which is turned into the MFCC shape for that length.
        num_classes: number of keywords (MLPerf: 10 words + silence + unknown).
        filters: channels of every conv.
        blocks: depthwise separable blocks.
        mfcc_in_model: put the :class:`MFCC` front end inside the model (input is audio).
        dft: ``"matmul"`` (portable) or ``"fft"`` (TFLite only); see the module docstring.
        sample_rate: audio sample rate for the front end.
        num_mfccs: MFCC coefficients per frame.
        dropout: dropout after the stem (and twice that before pooling, as in the reference).
        l2: L2 weight decay on the conv kernels (reference: 1e-4).
        classifier_activation: ``"softmax"`` or ``None`` for logits.
        bn_momentum: BatchNormalization momentum.
        name: model name.
    """
    fn = "ds_cnn"
    check_positive(fn, "num_classes", num_classes, integer=True)
    check_positive(fn, "filters", filters, integer=True)
    check_positive(fn, "blocks", blocks, integer=True)
    check_choice(fn, "dft", dft, ("matmul", "fft"))
    if not 0.0 <= dropout < 0.5:
        raise EdgekitError(f"{fn}: dropout must be in [0, 0.5) (it is doubled before pooling), got {dropout!r}.")
    shape = tuple(input_shape)
    front = MFCC(sample_rate=sample_rate, num_mfccs=num_mfccs, dft=dft, name="mfcc")
    if len(shape) == 1:
        if not isinstance(shape[0], int) or shape[0] < front.frame_length + front.frame_step * 3:
            raise EdgekitError(
                f"{fn}: a waveform input needs at least {front.frame_length + 3 * front.frame_step} samples "
                f"(4 frames), got input_shape {input_shape!r}."
            )
        feat_shape = (front.num_frames(shape[0]), num_mfccs, 1)
    elif len(shape) == 3 and all(isinstance(d, int) and d > 0 for d in shape):
        if mfcc_in_model:
            raise EdgekitError(
                f"{fn}: with mfcc_in_model=True input_shape is the waveform (samples,), got {input_shape!r}; "
                "pass mfcc_in_model=False to feed MFCCs."
            )
        feat_shape = shape
    else:
        raise EdgekitError(f"{fn}: input_shape must be (samples,) or (frames, coefficients, 1), got {input_shape!r}.")

    reg = keras.regularizers.L2(l2) if l2 else None
    if mfcc_in_model:
        inputs = layers.Input(shape=shape, name="input")
        x = front(inputs)
    else:
        inputs = layers.Input(shape=feat_shape, name="input")
        x = inputs
    x = layers.Conv2D(filters, (10, 4), strides=2, padding="same", kernel_regularizer=reg, name="stem_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    if dropout:
        x = layers.Dropout(dropout, name="stem_dropout")(x)
    for b in range(1, int(blocks) + 1):
        p = f"block{b}"
        x = layers.DepthwiseConv2D(3, padding="same", depthwise_regularizer=reg, name=p + "_dw")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=p + "_dw_bn")(x)
        x = layers.Activation("relu", name=p + "_dw_relu")(x)
        x = layers.Conv2D(filters, 1, kernel_regularizer=reg, name=p + "_pw")(x)
        x = layers.BatchNormalization(momentum=bn_momentum, name=p + "_pw_bn")(x)
        x = layers.Activation("relu", name=p + "_pw_relu")(x)
    if dropout:
        x = layers.Dropout(2 * dropout, name="top_dropout")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name or "ds_cnn")
