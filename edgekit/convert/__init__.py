"""Export a Keras model (ours or any user's) to deployable files, as typed records.

    >>> art = edgekit.export("runs/mnv2/model.keras", to="tflite", precision="int8", data="digits", out="export/x")
    >>> art.path, art.bytes, art.input.scale
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from pathlib import Path

from edgekit._io import atomic_path
from edgekit.artifact import Artifact, ModelCard, Provenance, TensorSpec, library_versions
from edgekit.formats import FORMATS, check_format, check_io
from edgekit.errors import EdgekitError

__all__ = ["export", "FORMATS"]
CONVERT_LOG = "convert.log"


def export(model, to: str = "tflite", precision: str = "fp32", data=None, out: str | Path = "export",
           name: str | None = None, opset: int | None = None, unsafe: bool = False, seed: int = 0,
           card: ModelCard | None = None, input_range=None, mean: float | None = None, std: float | None = None,
           labels=None, warn=None, info=None, fixed_batch: bool = False, io: str | None = None) -> Artifact:
    """Convert ``model`` (a path, a Keras model or a LoadedModel) and write it under ``out``.

    ``data`` (a Dataset or a dataset source such as ``"digits"``) supplies int8 calibration
    samples from its training split, scaled the way the model declares it wants its input
    (a Rescaling/Normalization layer at its top, its model.json, or ``input_range=(low, high)`` /
    ``mean``/``std`` for what cannot be detected). That normalization and the labels (``labels``:
    a list or a file with one per line, else the data's classes, else model.json's) are recorded
    in the file's metadata and on the returned Artifact, with or without data. ``info`` (a
    :class:`~edgekit.convert.tflite_metadata.ModelInfo`) sets the standard TFLite metadata's name,
    description, author and license. ``fixed_batch`` converts TFLite with a batch of 1 (no run-time
    shape ops, which a phone GPU delegate cannot run). ``io``: input/output type of a full-integer
    file (:data:`~edgekit.formats.IO_TYPES`; default the format's, uint8 for TFLite: what phone
    libraries take); a uint8 image input is set to take raw 8-bit pixels
    (:mod:`edgekit.convert.app_input`).
    """
    fmt = check_format(to, precision)
    io = check_io(fmt, precision, io)
    if fmt.name == "mcu":  # the bundle is its own step: int8 TFLite + C array + TFLM arena
        art, _ = export_mcu(model, data, out=out, name=name, unsafe=unsafe, seed=seed, input_range=input_range,
                            mean=mean, std=std, labels=labels, warn=warn, io=io)
        return art
    from edgekit.models.load import LoadedModel, load_model

    if isinstance(model, (str, Path)):
        source = str(model)
        loaded = load_model(model, unsafe=unsafe)
        card = card or ModelCard.read_beside(model)
    elif isinstance(model, LoadedModel):
        loaded, source = model, model.path
        card = card or ModelCard.read_beside(model.path)
    else:
        # a model object: its class says which Keras built it (the converters treat the two differently)
        tf_keras_built = any(c.__module__.startswith("tf_keras") for c in type(model).__mro__)
        flavour = "tf_keras" if tf_keras_built else "keras3"
        loaded, source = LoadedModel(path=getattr(model, "name", "model"), flavour=flavour, model=model), getattr(model, "name", "model")

    from edgekit.data.scaling import user_scaling
    from edgekit.models.preprocessing import resolve_scaling

    user = user_scaling(input_range, mean, std)
    dataset, scaling = _resolve_data(data, loaded, seed, card, user, warn)
    if precision in fmt.needs_data and dataset is None:
        raise EdgekitError(f"{to} {precision} export needs calibration data: pass --data (e.g. --data digits).")
    if dataset is None:
        scaling = resolve_scaling(loaded.model, card, user, warn)
    normalization = dataset.normalization if dataset is not None else (
        scaling.normalization_for(None) if scaling is not None else None)
    if normalization is None and len(loaded.input_shape) == 4 and "float" in loaded.input_dtype and warn:
        warn("the model declares no input scaling and none was given: the file records no normalization "
             "(pass --input-range LOW,HIGH or --mean/--std, or --data).")
    given = read_labels(labels)
    labels = given or (dataset.class_names if dataset is not None else None) or (card.labels if card else None)
    n_out = _output_units(loaded)
    if labels and n_out and len(labels) != n_out:
        if given:
            raise EdgekitError(f"{len(labels)} labels for a model with {n_out} outputs; give one label per output.")
        # the data's class names do not name this model's outputs (another data set; an autoencoder's or an
        # embedding's outputs are no classes, and their data's classes are dropped without a word)
        if dataset is None or dataset.task == "classification":
            whose = "the data have" if dataset is not None else "model.json lists"
            (warn or _stderr_warn)(f"{whose} {len(labels)} classes but the model has {n_out} outputs: the file "
                                   "records no labels (pass --label-file with one label per output).")
        labels = None

    stem = name or (Path(source).stem if Path(source).suffix else Path(source).name) or loaded.name
    dest = Path(out) / f"{stem}_{precision}{fmt.suffix}"
    preprocessing = dataset.preprocessing if dataset is not None else (card.preprocessing if card else None)
    meta = {"model": stem, "normalization": normalization.model_dump() if normalization else None,
            "normalization_source": scaling.describe() if scaling is not None else (
                "the data's default" if dataset is not None else None),
            "labels": labels, "source": source}
    if preprocessing:
        meta["preprocessing"] = preprocessing
    extra: dict = {}
    with _nothing_left_on_failure(Path(out)):
        art, outputs = _convert_and_check(loaded, source, fmt, precision, dataset, normalization, labels, meta, dest,
                                          opset=opset, seed=seed, fixed_batch=fixed_batch, info=info, extra=extra,
                                          io=io)
        if preprocessing:
            from edgekit.data.bundle import write_preprocessing_files

            extra["files"] = write_preprocessing_files(preprocessing, Path(out))  # e.g. vocab.txt for a phone app
    if to == "tflite" and precision == "int8":
        from edgekit.xnnpack import requant_problems, summary

        problems = requant_problems(dest)
        if problems:  # the file is valid and kept; LiteRT's default CPU path would refuse it
            extra["xnnpack_refuses"] = [p.describe() for p in problems]
            (warn or _stderr_warn)(summary(problems))
    extra["final_check"] = [o.model_dump() for o in outputs]
    extra["final_check_inputs"] = f"samples of {dataset.name}'s validation split" if dataset is not None else "random inputs"
    art = art.model_copy(update={"extra": dict(art.extra, **extra)})
    if to == "tflite":
        from edgekit.runtime.gpu import gpu_compatibility

        art = art.model_copy(update={"gpu": gpu_compatibility(art.path)})
    return art


def _convert_and_check(loaded, source, fmt, precision, dataset, normalization, labels, meta: dict, dest: Path, *,
                       opset, seed: int, fixed_batch: bool, info, extra: dict, io: str | None = None):
    """Convert, write under a temporary name (with all its metadata), run the final check on exactly
    those bytes, and only then give them ``dest``'s name. Returns ``(artifact, per-output parity)``;
    ``extra`` receives the format's facts (opset, quantization settings)."""
    from edgekit._native import native_log
    from edgekit.runtime.keras import KerasRunner
    from edgekit.verification.check import final_check, load_checked

    out, to = dest.parent, fmt.name
    # Converter, tf2onnx and absl lines go to <out>/convert.log, not between edgekit's own lines.
    with native_log(out / CONVERT_LOG):
        reference = KerasRunner(source, loaded=loaded)
        feeds = _check_feeds(dataset, reference, normalization, loaded, seed)
        if to == "tflite":
            from edgekit.convert.tflite import add_metadata, to_tflite

            from edgekit.convert.app_input import pin_raw_pixel_input

            rep = _representative(dataset, reference) if dataset is not None else None
            blob = to_tflite(loaded, precision, rep, fixed_batch=fixed_batch, io=io or "int8")
            if io == "uint8":  # what an app feeds it: camera bytes, unchanged
                blob, extra["raw_pixel_input"] = pin_raw_pixel_input(blob, normalization)
            blob = add_metadata(blob, meta)
        else:
            from edgekit.convert.onnx import DEFAULT_OPSET, to_onnx

            extra["opset"] = opset or DEFAULT_OPSET
            proto = to_onnx(loaded, extra["opset"], meta)
        with atomic_path(dest) as tmp:
            if to == "tflite":
                tmp.write_bytes(blob)
            else:
                _write_onnx(proto, tmp, precision, dataset, reference, seed, extra)
            first = load_checked(tmp, fmt.runtime, dest.name)  # its specs, for the record and the metadata
            art = Artifact.from_file(
                tmp, format=to, precision=precision, input=first.input_spec, output=first.output_spec,
                normalization=normalization, labels=labels,
                provenance=Provenance(source_model=source, data=dataset.name if dataset is not None else None,
                                      steps=[f"{to}:{precision}"], versions=library_versions(),
                                      created=_dt.datetime.now(_dt.timezone.utc).isoformat()),
            )
            art = art.model_copy(update={"extra": dict(art.extra, **extra)})  # e.g. raw_pixel_input, for the app line
            if to == "tflite":  # standard metadata for apps, written from the record (normalization, labels)
                import dataclasses

                from edgekit.convert.tflite_metadata import ModelInfo, write_standard_metadata

                info = info or ModelInfo()
                if not info.name:  # named after the final file, not the temporary one it is written as
                    info = dataclasses.replace(info, name=dest.stem.removesuffix(f"_{precision}"))
                art = write_standard_metadata(art, info)
            # The bytes that get the final name are the bytes run here, metadata included.
            _, outputs = final_check(tmp, fmt.runtime, reference, feeds, precision, dest.name)
    return art.model_copy(update={"path": str(dest)}), outputs


def _write_onnx(proto, tmp: Path, precision: str, dataset, reference, seed: int, extra: dict) -> None:
    import onnx

    if precision != "int8":
        onnx.save(proto, str(tmp))
        return
    from edgekit.convert.onnx import CALIBRATION_SAMPLES, quantize_onnx_int8

    fp32_tmp = tmp.with_name(tmp.name + ".fp32.onnx")
    onnx.save(proto, str(fp32_tmp))
    try:
        extra["quantization"] = quantize_onnx_int8(fp32_tmp, tmp,
                                                   _representative(dataset, reference, CALIBRATION_SAMPLES, seed))
    finally:
        fp32_tmp.unlink(missing_ok=True)


def _representative(dataset, reference, n: int = 600, seed: int = 0):
    """Calibration samples of the training split: one array, or one per input name (several inputs)."""
    rep = dataset.representative(n, seed=seed)
    if isinstance(rep, dict) or len(reference.input_specs) == 1:
        return rep
    from edgekit.verification.check import as_feeds

    return as_feeds(rep, reference.input_specs)


def _check_feeds(dataset, reference, normalization, loaded, seed: int) -> dict:
    """The final check's inputs: the first samples of the validation split (never the test split),
    else random inputs in the range the model is fed."""
    from edgekit.verification.check import CHECK_SAMPLES, as_feeds, check_inputs, embedding_vocabulary

    if dataset is not None:
        from edgekit.data.datasets import take

        return as_feeds(take(dataset.x_val, slice(0, CHECK_SAMPLES)), reference.input_specs)
    lo_hi = normalization.input_range if normalization is not None else (-1.0, 1.0)
    return check_inputs(reference, seed, CHECK_SAMPLES, lo_hi, embedding_vocabulary(loaded.model))


@contextlib.contextmanager
def _nothing_left_on_failure(out: Path):
    """A failed export leaves no file in ``out`` (no model, no convert.log, no sidecar), and no
    ``out`` folder it created: files that were there before stay as they were."""
    existed = out.exists()
    before = {p for p in out.iterdir()} if existed else set()
    try:
        yield
    except BaseException:
        if out.exists():
            for p in out.iterdir():
                if p not in before and p.is_file():
                    p.unlink(missing_ok=True)
            if not existed and not any(out.iterdir()):
                out.rmdir()
        raise

def _stderr_warn(msg: str) -> None:
    import sys

    print(f"warning: {msg}", file=sys.stderr)


def _output_units(loaded) -> int | None:
    """Units of the first 2-D output with more than one (a classifier's classes: with several
    outputs, the class head the labels name), else None."""
    for o in getattr(loaded.model, "outputs", None) or []:
        n = o.shape[-1] if len(o.shape) == 2 else None
        if n is not None and int(n) > 1:
            return int(n)
    return None


def _resolve_data(data, loaded, seed, card=None, user=None, warn=None):
    """``(dataset scaled as the model expects, the Scaling used)``; ``(None, None)`` without data."""
    if data is None:
        return None, None
    from edgekit.models.signature import input_specs

    if len(input_specs(loaded)) > 1:  # one array per input name, fed as given (no layer scales several inputs)
        from edgekit.data import Dataset, load_dataset

        return (data if isinstance(data, Dataset) else load_dataset(data, seed=seed, warn=warn)), None
    from edgekit.models.preprocessing import dataset_for_model

    return dataset_for_model(data, loaded.model, input_shape=loaded.input_shape[1:], card=card, user=user, seed=seed,
                             warn=warn)


def read_labels(labels) -> list[str] | None:
    """Labels given as a list, or as a text file with one label per line."""
    if labels is None or isinstance(labels, (list, tuple)):
        return list(labels) if labels else None
    p = Path(labels)
    if not p.is_file():
        raise EdgekitError(f"{p}: no such label file (one label per line).")
    names = [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise EdgekitError(f"{p}: the label file is empty; give one label per line.")
    return names


def keras_artifact(model_path: str | Path, loaded, card: ModelCard | None) -> Artifact:
    """A record for the Keras model itself (so reports list it beside its exports)."""
    return Artifact.from_file(
        model_path, format="keras", precision="fp32",
        input=TensorSpec(name="input", shape=loaded.input_shape, dtype=loaded.input_dtype),
        normalization=card.normalization if card else None, labels=card.labels if card else None,
        provenance=Provenance(source_model=str(model_path), data=card.dataset if card else None,
                              versions=library_versions()),
    )


def export_mcu(model, data, out: str | Path = "export", name: str | None = None, unsafe: bool = False,
               seed: int = 0, input_range=None, mean: float | None = None, std: float | None = None, labels=None,
               warn=None, target: str | None = "nucleo-l4r5zi", array_name: str = "g_model", io: str | None = None):
    """Microcontroller bundle: full-int8 TFLite, its C array, op resolver, TFLM-measured arena, mcu.json.

    TFLM runs in a child process (it can abort); its outputs are compared with LiteRT's on the
    test split of ``data``. ``target``: the board of the latency estimate in mcu.json (None: none);
    ``array_name``: the C identifier of the model array. ``io``: int8 (default, what CMSIS-NN and
    MLPerf Tiny's reference models take) or uint8. Returns ``(artifact, McuReport)``.
    """
    from edgekit.convert.mcu import build_mcu_bundle, c_array
    from edgekit.data.scaling import user_scaling
    from edgekit.models.load import LoadedModel, load_model

    io = check_io(FORMATS["mcu"], "int8", io)
    c_array(b"", array_name)  # a bad identifier is an error before any slow step
    if target is not None:
        from edgekit.benchmarking.mcu_targets import get_target

        get_target(target)  # so is an unknown board

    if data is None:
        raise EdgekitError("an MCU bundle is full int8: pass --data for calibration and the TFLM/LiteRT check.")
    loaded = model if isinstance(model, LoadedModel) else load_model(model, unsafe=unsafe)
    card = ModelCard.read_beside(model) if isinstance(model, (str, Path)) else None
    dataset, _ = _resolve_data(data, loaded, seed, card, user_scaling(input_range, mean, std), warn)
    from edgekit.models.signature import input_specs

    ins = input_specs(loaded)
    if len(ins) != 1:
        raise EdgekitError(f"the MCU bundle takes one input; this model takes {len(ins)} "
                           f"({', '.join(s.name for s in ins)}): export it --to tflite instead.")
    with _nothing_left_on_failure(Path(out)):  # a bundle whose TFLM step fails leaves no .tflite either
        art = export(loaded, to="tflite", precision="int8", data=dataset, out=out, name=name or _stem(model),
                     seed=seed, card=card, labels=labels, warn=warn, input_range=input_range, mean=mean, std=std,
                     io=io)
        report = build_mcu_bundle(art.path, out, dataset.x_test, name=array_name, target=target)
    return art, report


def _stem(model) -> str:
    p = Path(str(getattr(model, "path", model)))
    return p.stem if p.suffix else p.name
