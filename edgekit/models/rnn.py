"""Recurrent sequence classifiers: LSTM, bidirectional LSTM, and an LSTM encoder with
Bahdanau (additive) attention pooling."""

from __future__ import annotations

from edgekit._tf import keras, tf
from edgekit.errors import EdgekitError
from edgekit.models._common import check_int_list, check_positive, check_rate
from edgekit.models.registry import register_model

layers = keras.layers


@keras.saving.register_keras_serializable(package="edgekit")
class AdditiveAttentionPooling(layers.Layer):
    """Bahdanau-style additive attention over time with a learned query:
    ``e_t = v^T tanh(W h_t + b)``, ``a = softmax(e)``, output ``sum_t a_t h_t``.

    Reference: Bahdanau, Cho and Bengio, "Neural Machine Translation by Jointly Learning to Align
    and Translate", ICLR 2015 (the score function); used as pooling as in Yang et al.,
    "Hierarchical Attention Networks", NAACL 2016. Set ``return_attention`` to also output the
    weights (batch, time).
    """

    def __init__(self, units: int = 64, return_attention: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.return_attention = bool(return_attention)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.w = self.add_weight(name="w", shape=(dim, self.units), initializer="glorot_uniform")
        self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros")
        self.v = self.add_weight(name="v", shape=(self.units, 1), initializer="glorot_uniform")
        super().build(input_shape)

    def call(self, h):
        scores = tf.matmul(tf.tanh(tf.matmul(h, self.w) + self.b), self.v)  # (batch, time, 1)
        weights = tf.nn.softmax(scores, axis=1)
        context = tf.reduce_sum(weights * h, axis=1)
        if self.return_attention:
            return context, tf.squeeze(weights, -1)
        return context

    def compute_output_shape(self, input_shape):
        out = (input_shape[0], input_shape[-1])
        return (out, (input_shape[0], input_shape[1])) if self.return_attention else out

    def macs(self) -> int:
        shape = getattr(self, "input_shape", None)
        if not shape or shape[1] is None:
            return 0
        t, d = int(shape[1]), int(shape[-1])
        return t * d * self.units + t * self.units + t * d

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, return_attention=self.return_attention)
        return config


def _sequence_input(fn, input_shape, vocab_size, embed_dim):
    """(T,) int token ids with an Embedding, or (T, F) float features per step."""
    shape = tuple(input_shape)
    if len(shape) == 1 and isinstance(shape[0], int) and shape[0] > 0:
        check_positive(fn, "vocab_size", vocab_size, integer=True)
        check_positive(fn, "embed_dim", embed_dim, integer=True)
        inputs = layers.Input(shape=shape, dtype="int32", name="input")
        return inputs, layers.Embedding(vocab_size, embed_dim, name="embedding")(inputs)
    if len(shape) == 2 and all(isinstance(d, int) and d > 0 for d in shape):
        inputs = layers.Input(shape=shape, name="input")
        return inputs, inputs
    raise EdgekitError(f"{fn}: input_shape must be (timesteps,) of token ids or (timesteps, features), "
                       f"got {input_shape!r}.")


def _rnn_classifier(fn, input_shape, num_classes, vocab_size, embed_dim, units, bidirectional, attention_units,
                    dropout, classifier_activation, name, unroll=False):
    check_positive(fn, "num_classes", num_classes, integer=True)
    units = check_int_list(fn, "units", units)
    check_rate(fn, "dropout", dropout)
    inputs, x = _sequence_input(fn, input_shape, vocab_size, embed_dim)
    for i, u in enumerate(units, start=1):
        last = i == len(units)
        seq = not last or attention_units is not None
        rnn = layers.LSTM(u, return_sequences=seq, unroll=bool(unroll), name=f"lstm_{i}")
        x = layers.Bidirectional(rnn, name=f"bilstm_{i}")(x) if bidirectional else rnn(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"lstm_{i}_dropout")(x)
    if attention_units is not None:
        x = AdditiveAttentionPooling(attention_units, name="attention")(x)
    x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name or fn)


_SEQ = dict(
    task="classification",
    default_input_shape=(64,),
    small_input_shape=(12,),
    small_knobs={"vocab_size": 50, "embed_dim": 8, "units": (8,)},
    input_kind="sequence",
    family="rnn",
)
_ARGS = """
    Args:
        input_shape: ``(timesteps,)`` int token ids (an Embedding of ``vocab_size`` x ``embed_dim``
            comes first) or ``(timesteps, features)`` floats.
        num_classes: size of the classifier.
        vocab_size, embed_dim: the token embedding (ignored for float inputs).
        units: LSTM sizes, one layer each (stacked; all but the last return sequences).
        dropout: dropout after each recurrent layer.
        unroll: unroll the recurrence over the (fixed) timesteps. The TFLite converter rejects
            the rolled LSTM of a batch-polymorphic model ("'tf.TensorListReserve' op requires
            element_shape to be static"); it converts with a fixed batch size (a concrete
            function of batch 1) or unrolled. ONNX converts either way.
        classifier_activation: ``"softmax"`` or ``None`` for logits.
        name: model name.
"""


@register_model(paper="Hochreiter and Schmidhuber, Long Short-Term Memory, Neural Computation 1997", **_SEQ)
def lstm(input_shape=(64,), num_classes: int = 2, vocab_size: int = 10000, embed_dim: int = 64, units=(64,),
         dropout: float = 0.0, classifier_activation: str | None = "softmax", unroll: bool = False,
         name: str | None = None):
    """LSTM classifier: the last hidden state of the top layer feeds the classifier.

    Reference: Hochreiter and Schmidhuber, "Long Short-Term Memory", 1997.
    """
    return _rnn_classifier("lstm", input_shape, num_classes, vocab_size, embed_dim, units, False, None, dropout,
                           classifier_activation, name, unroll)


@register_model(paper="Schuster and Paliwal, Bidirectional Recurrent Neural Networks, IEEE TSP 1997; "
                "Graves and Schmidhuber, Neural Networks 2005", **_SEQ)
def bilstm(input_shape=(64,), num_classes: int = 2, vocab_size: int = 10000, embed_dim: int = 64, units=(64,),
           dropout: float = 0.0, classifier_activation: str | None = "softmax", unroll: bool = False,
         name: str | None = None):
    """Bidirectional LSTM classifier: forward and backward final states, concatenated.

    Reference: Schuster and Paliwal, "Bidirectional Recurrent Neural Networks", 1997;
    Graves and Schmidhuber, "Framewise phoneme classification with bidirectional LSTM", 2005.
    """
    return _rnn_classifier("bilstm", input_shape, num_classes, vocab_size, embed_dim, units, True, None, dropout,
                           classifier_activation, name, unroll)


@register_model(paper="Bahdanau, Cho and Bengio, Neural Machine Translation by Jointly Learning to Align and "
                "Translate, ICLR 2015 (arXiv:1409.0473)", **_SEQ)
def seq_attention(input_shape=(64,), num_classes: int = 2, vocab_size: int = 10000, embed_dim: int = 64,
                  units=(64,), attention_units: int = 64, bidirectional: bool = True, dropout: float = 0.0,
                  classifier_activation: str | None = "softmax", unroll: bool = False, name: str | None = None):
    """Recurrent encoder with Bahdanau additive attention pooling over all its states.

    A (bidirectional) LSTM returns every state; :class:`AdditiveAttentionPooling` scores each with
    ``v^T tanh(W h_t + b)`` and takes the softmax-weighted sum, which feeds the classifier.
    ``attention_units`` is the size of the scoring layer; ``bidirectional`` chooses the encoder.
    """
    check_positive("seq_attention", "attention_units", attention_units, integer=True)
    return _rnn_classifier("seq_attention", input_shape, num_classes, vocab_size, embed_dim, units, bidirectional,
                           attention_units, dropout, classifier_activation, name, unroll)


for _f in (lstm, bilstm, seq_attention):
    _f.__doc__ += _ARGS
