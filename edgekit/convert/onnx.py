"""Keras / SavedModel to ONNX with tf2onnx."""

from __future__ import annotations

import contextlib
import json
import os

from edgekit._deps import require
from edgekit._native import quiet_converter
from edgekit._tf import tf
from edgekit.errors import EdgekitError, first_line
from edgekit.models.load import LoadedModel

DEFAULT_OPSET = 17
from edgekit.convert.metadata import METADATA_NAME  # noqa: E402 - the one definition


def to_onnx(loaded: LoadedModel, opset: int = DEFAULT_OPSET, meta: dict | None = None):
    """Return an ``onnx.ModelProto`` whose inputs are the model's (one input is named ``input``),
    with a free batch dimension and every weight a constant."""
    tf2onnx = require("tf2onnx", "ONNX export")

    try:
        try:
            with _optimizer_in_place():
                proto = _convert(tf2onnx, loaded, opset)
        except Exception as e:  # noqa: BLE001 - a pass that failed in place: again, with tf2onnx skipping it
            if not _raised_in_optimizer(e):
                raise  # an op tf2onnx cannot convert fails the same way twice: once is enough
            proto = _convert(tf2onnx, loaded, opset)
    except Exception as e:  # noqa: BLE001 - tf2onnx raises many types for unsupported ops
        raise EdgekitError(f"ONNX conversion failed: {first_line(e)}") from e
    erfc_as_erf(proto)
    if meta:
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_NAME, json.dumps(meta, default=str)
    proto.producer_name = "edgekit"
    return proto


def _convert(tf2onnx, loaded: LoadedModel, opset: int):
    specs = tuple(tf.TensorSpec((None,) + i.shape[1:], tf.as_dtype(i.dtype), name=i.name) for i in loaded.inputs)
    with quiet_converter():  # tf2onnx logs every rewrite pass
        if loaded.flavour == "tf_keras" and len(specs) == 1:
            proto, _ = tf2onnx.convert.from_keras(loaded.model, input_signature=specs, opset=opset)
        else:
            # Keras 3 models, bare SavedModels and several inputs: the call frozen first. tf2onnx's
            # from_keras looks Keras 3 output tensors up by names that no longer exist, and given
            # a traced Keras 3 call it makes graph inputs of the tensors the call captures (a
            # Normalization layer's mean and variance).
            fn = loaded.frozen_function(batch=None)
            proto, _ = tf2onnx.convert.from_function(tf.function(fn), input_signature=specs, opset=opset)
            _name_outputs(proto, list(fn.structured_outputs), [t.name for t in fn.outputs])
    return proto


@contextlib.contextmanager
def _optimizer_in_place():
    """tf2onnx's graph optimizer deep-copies the whole graph before each of its ~20 passes, every
    round, so that a pass that raises can be skipped; on a ResNeXt-50 that copying is most of the
    ONNX export's time. With ``TF2ONNX_CATCH_ERRORS`` set the passes run in place (tf2onnx 1.17
    disables catching whenever the variable exists), and a pass that raises fails the conversion:
    :func:`to_onnx` then converts again the careful way (only then: a failure before the optimizer
    would fail the same way). Where no pass raises, both ways give the same nodes and weights
    (checked on MobileNetV2, a transformer encoder and ResNeXt-50: outputs equal; tf2onnx's generated
    names differ from one conversion to the next either way)."""
    name = "TF2ONNX_CATCH_ERRORS"
    before = os.environ.get(name)
    os.environ[name] = "FALSE"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _raised_in_optimizer(e: BaseException) -> bool:
    """Whether ``e`` came out of tf2onnx's graph optimizer (what :func:`_optimizer_in_place` stops
    catching), rather than from converting the ops before it."""
    import traceback

    marker = os.path.join("tf2onnx", "optimizer")
    return any(marker in frame.filename for frame in traceback.extract_tb(e.__traceback__))


def _name_outputs(proto, names: list[str], tensor_names: list[str]) -> None:
    """Rename graph outputs ``Identity:0``... to the model's output names (same order as traced):
    runtimes then map them to the Keras outputs by name."""
    rename = dict(zip(tensor_names, names))
    for node in proto.graph.node:
        node.output[:] = [rename.get(o, o) for o in node.output]
        node.input[:] = [rename.get(i, i) for i in node.input]
    for out in proto.graph.output:
        out.name = rename.get(out.name, out.name)


def erfc_as_erf(proto) -> int:
    """Rewrite every ``Erfc`` node as ``1 - Erf``; returns how many. TensorFlow's exact GELU
    (``tf.nn.gelu``, Keras 3's ``gelu`` activation) is ``0.5 x erfc(-x / sqrt 2)``; tf2onnx copies
    the Erfc op through, and ONNX has no such operator, so onnxruntime refuses the whole graph
    (INVALID_GRAPH)."""
    from onnx import TensorProto, helper

    graphs = [proto.graph]
    count = 0
    while graphs:
        graph = graphs.pop()
        nodes = list(graph.node)
        for node in nodes:
            graphs.extend(a.g for a in node.attribute if a.type == a.GRAPH)  # Loop and If bodies
        if not any(n.op_type == "Erfc" and n.domain in ("", "ai.onnx") for n in nodes):
            continue
        one = "edgekit_erfc_one"
        if not any(i.name == one for i in graph.initializer):
            graph.initializer.append(helper.make_tensor(one, TensorProto.FLOAT, [], [1.0]))
        rewritten = []
        for node in nodes:
            if node.op_type != "Erfc" or node.domain not in ("", "ai.onnx"):
                rewritten.append(node)
                continue
            erf = node.output[0] + "_erf"
            rewritten.append(helper.make_node("Erf", list(node.input), [erf], name=node.name + "_erf"))
            rewritten.append(helper.make_node("Sub", [one, erf], list(node.output), name=node.name + "_one_minus"))
            count += 1
        del graph.node[:]
        graph.node.extend(rewritten)
    return count


# onnxruntime static quantization settings. "default" is what export uses; "before" is the reference
# benchmarks/onnx_int8.py measures it against (benchmarks/results/onnx_int8.md), kept as its own entry
# so that a change to "default" is measured, not assumed.
QUANT_SETTINGS = {
    "before": {"calibrate_method": "MinMax", "per_channel": True, "activation_type": "QInt8",
               "weight_type": "QInt8", "reduce_range": False, "extra_options": {}},
    "default": {"calibrate_method": "MinMax", "per_channel": True, "activation_type": "QInt8",
                "weight_type": "QInt8", "reduce_range": False, "extra_options": {}},
}
# Calibration samples for ONNX int8. With the 200 that TFLite gets, onnxruntime's min/max calibration
# lost 1.1 points more than TFLite int8 on an undertrained MobileNetV2 (0.35/32, 4 epochs); with 500
# it lost none there nor on MobileNetV1 1.0/96 (benchmarks/results/onnx_int8.md). Fake-quant runs of
# the same files (graph optimizations off) lost the same: the parameters, not the kernels.
CALIBRATION_SAMPLES = 500


def cpu_lacks_vnni() -> bool:
    """x86 with AVX2 but no VNNI: onnxruntime's u8 x s8 kernels there multiply-add pairs into int16
    (VPMADDUBSW), which can saturate with full 8-bit weights; its quantizer documents 7-bit weights
    (``reduce_range``) for such machines. Other CPUs (VNNI, ARM) need no such thing."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx2" in flags and not ({"avx512_vnni", "avx_vnni"} & set(flags))


def quantize_onnx_int8(fp32_path, out_path, representative, **settings) -> dict:
    """Static QDQ int8 quantization with onnxruntime's quantizer (``QUANT_SETTINGS["default"]``,
    each key overridable: ``calibrate_method``, ``per_channel``, ``activation_type``, ``weight_type``,
    ``reduce_range``, ``extra_options``). ``reduce_range`` defaults to :func:`cpu_lacks_vnni`, so a
    file made on an AVX2-only x86 machine does not saturate there. Returns the settings used."""
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    cfg = dict(QUANT_SETTINGS["default"], **settings)
    if "reduce_range" not in settings:
        cfg["reduce_range"] = cpu_lacks_vnni()
    unknown = set(cfg) - set(QUANT_SETTINGS["default"])
    if unknown:
        raise EdgekitError(f"unknown ONNX quantization setting(s) {', '.join(sorted(unknown))}.")
    # one array, fed as "input", or one array per input name
    reps = {k: np.asarray(v, np.float32) for k, v in (
        representative.items() if isinstance(representative, dict) else [("input", representative)])}
    n_rep = min(len(v) for v in reps.values())

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(range(n_rep))

        def get_next(self):
            i = next(self._it, None)
            return None if i is None else {k: v[i : i + 1] for k, v in reps.items()}

    import contextlib
    import os
    import tempfile

    src, pre = os.path.abspath(fp32_path), os.path.abspath(str(out_path) + ".pre.onnx")
    try:
        with quiet_converter():  # the quantizer logs through Python's root logger
            try:
                # On failure the symbolic pass saves sym_shape_infer_temp.onnx (+ .data files) in the
                # working directory: run it in a scratch one so nothing lands in the user's.
                with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
                    quant_pre_process(src, pre, skip_symbolic_shape=False)
            except Exception:  # noqa: BLE001 - "Incomplete symbolic shape inference" (seen with two inputs)
                quant_pre_process(src, pre, skip_symbolic_shape=True)
            quantize_static(pre, str(out_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=cfg["per_channel"],
                            activation_type=getattr(QuantType, cfg["activation_type"]),
                            weight_type=getattr(QuantType, cfg["weight_type"]), reduce_range=cfg["reduce_range"],
                            calibrate_method=getattr(CalibrationMethod, cfg["calibrate_method"]),
                            extra_options=dict(cfg["extra_options"]))
    finally:
        if os.path.exists(pre):
            os.unlink(pre)
    return dict(cfg, calibration_samples=n_rep)
