"""Export a Keras model (ours or any user's) to deployable files, as typed records.

    >>> art = edgekit.export("runs/mnv2/model.keras", to="tflite", precision="int8", data="digits", out="export/x")
    >>> art.path, art.bytes, art.input.scale
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from edgekit._io import atomic_path
from edgekit.artifact import Artifact, ModelCard, Provenance, TensorSpec, library_versions
from edgekit.formats import FORMATS, check_format
from edgekit.errors import EdgekitError

__all__ = ["export", "FORMATS"]
CONVERT_LOG = "convert.log"


def export(model, to: str = "tflite", precision: str = "fp32", data=None, out: str | Path = "export",
           name: str | None = None, opset: int | None = None, unsafe: bool = False, seed: int = 0,
           card: ModelCard | None = None, input_range=None, mean: float | None = None, std: float | None = None,
           labels=None, warn=None, info=None, fixed_batch: bool = False) -> Artifact:
    """Convert ``model`` (a path, a Keras model or a LoadedModel) and write it under ``out``.

    ``data`` (a Dataset or a dataset source such as ``"digits"``) supplies int8 calibration
    samples from its training split, scaled the way the model declares it wants its input
    (a Rescaling/Normalization layer at its top, its model.json, or ``input_range=(low, high)`` /
    ``mean``/``std`` for what cannot be detected). That normalization and the labels (``labels``:
    a list or a file with one per line, else the data's classes, else model.json's) are recorded
    in the file's metadata and on the returned Artifact, with or without data. ``info`` (a
    :class:`~edgekit.convert.tflite_metadata.ModelInfo`) sets the standard TFLite metadata's name,
    description, author and license. ``fixed_batch`` converts TFLite with a batch of 1 (no run-time
    shape ops, which a phone GPU delegate cannot run).
    """
    fmt = check_format(to, precision)
    if fmt.name == "mcu":  # the bundle is its own step: int8 TFLite + C array + TFLM arena
        art, _ = export_mcu(model, data, out=out, name=name, unsafe=unsafe, seed=seed, input_range=input_range,
                            mean=mean, std=std, labels=labels, warn=warn)
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
        labels = None  # the data's class names do not name this model's outputs (an autoencoder, an embedding)

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
    from edgekit._native import native_log

    # Converter, tf2onnx and absl lines go to <out>/convert.log, not between edgekit's own lines.
    with native_log(Path(out) / CONVERT_LOG):
        if to == "tflite":
            from edgekit.convert.tflite import add_metadata, to_tflite

            rep = dataset.representative() if dataset is not None else None
            blob = add_metadata(to_tflite(loaded, precision, rep, fixed_batch=fixed_batch), meta)
        else:
            from edgekit.convert.onnx import DEFAULT_OPSET, to_onnx

            extra["opset"] = opset or DEFAULT_OPSET
            proto = to_onnx(loaded, extra["opset"], meta)
        # Written under a temporary name and loaded in its runtime from there: only a file that loads
        # gets the final name (an export that does not load is removed, never left complete-but-broken).
        with atomic_path(dest) as tmp:
            if to == "tflite":
                tmp.write_bytes(blob)
            else:
                import onnx

                if precision == "int8":
                    from edgekit.convert.onnx import CALIBRATION_SAMPLES, quantize_onnx_int8

                    fp32_tmp = tmp.with_name(tmp.name + ".fp32.onnx")
                    onnx.save(proto, str(fp32_tmp))
                    try:
                        extra["quantization"] = quantize_onnx_int8(fp32_tmp, tmp,
                                                                   dataset.representative(CALIBRATION_SAMPLES, seed=seed))
                    finally:
                        fp32_tmp.unlink(missing_ok=True)
                else:
                    onnx.save(proto, str(tmp))
            runner = _load_check(tmp, dest, fmt.runtime)

    from edgekit.data.bundle import write_preprocessing_files

    if preprocessing:
        extra["files"] = write_preprocessing_files(preprocessing, Path(out))  # e.g. vocab.txt for a phone app
    if to == "tflite" and precision == "int8":
        from edgekit.xnnpack import requant_problems, summary

        problems = requant_problems(dest)
        if problems:  # the file is valid and kept; LiteRT's default CPU path would refuse it
            extra["xnnpack_refuses"] = [p.describe() for p in problems]
            (warn or _stderr_warn)(summary(problems))
    steps = [f"{to}:{precision}"]
    art = Artifact.from_file(
        dest, format=to, precision=precision, input=runner.input_spec, output=runner.output_spec,
        normalization=normalization, labels=labels, extra=extra,
        provenance=Provenance(source_model=source, data=dataset.name if dataset is not None else None, steps=steps,
                              versions=library_versions(), created=_dt.datetime.now(_dt.timezone.utc).isoformat()),
    )
    if to == "tflite":  # standard metadata for apps, written from the record (its normalization and labels)
        from edgekit.convert.tflite_metadata import write_standard_metadata

        art = write_standard_metadata(art, info)
        from edgekit.runtime.gpu import gpu_compatibility

        art = art.model_copy(update={"gpu": gpu_compatibility(art.path)})
    return art


def _stderr_warn(msg: str) -> None:
    import sys

    print(f"warning: {msg}", file=sys.stderr)


def _output_units(loaded) -> int | None:
    """Units of a single 2-D output (a classifier's classes), else None."""
    outputs = getattr(loaded.model, "outputs", None) or []
    if len(outputs) != 1 or len(outputs[0].shape) != 2:
        return None
    n = outputs[0].shape[-1]
    return int(n) if n is not None and int(n) > 1 else None


def _load_check(tmp: Path, dest: Path, runtime: str):
    """Load the freshly written file in its runtime; a failure names the final file and says nothing was kept."""
    from edgekit.runtime.base import load_runner

    try:
        return load_runner(tmp, runtime)
    except Exception as e:  # noqa: BLE001 - any load failure means the export is unusable
        why = str(e).replace(str(tmp), dest.name).strip().splitlines()
        raise EdgekitError(f"{dest.name}: the converted file does not load in {runtime} "
                           f"({(why or [type(e).__name__])[0][:200]}); it was not kept.") from e


def _resolve_data(data, loaded, seed, card=None, user=None, warn=None):
    """``(dataset scaled as the model expects, the Scaling used)``; ``(None, None)`` without data."""
    if data is None:
        return None, None
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
               warn=None, target: str | None = "nucleo-l4r5zi", array_name: str = "g_model"):
    """Microcontroller bundle: full-int8 TFLite, its C array, op resolver, TFLM-measured arena, mcu.json.

    TFLM runs in a child process (it can abort); its outputs are compared with LiteRT's on the
    test split of ``data``. ``target``: the board of the latency estimate in mcu.json (None: none);
    ``array_name``: the C identifier of the model array. Returns ``(artifact, McuReport)``.
    """
    from edgekit.convert.mcu import build_mcu_bundle, c_array
    from edgekit.data.scaling import user_scaling
    from edgekit.models.load import LoadedModel, load_model

    c_array(b"", array_name)  # a bad identifier is an error before any slow step
    if target is not None:
        from edgekit.benchmarking.mcu_targets import get_target

        get_target(target)  # so is an unknown board

    if data is None:
        raise EdgekitError("an MCU bundle is full int8: pass --data for calibration and the TFLM/LiteRT check.")
    loaded = model if isinstance(model, LoadedModel) else load_model(model, unsafe=unsafe)
    card = ModelCard.read_beside(model) if isinstance(model, (str, Path)) else None
    dataset, _ = _resolve_data(data, loaded, seed, card, user_scaling(input_range, mean, std), warn)
    art = export(loaded, to="tflite", precision="int8", data=dataset, out=out, name=name or _stem(model), seed=seed,
                 card=card, labels=labels, warn=warn, input_range=input_range, mean=mean, std=std)
    try:
        report = build_mcu_bundle(art.path, out, dataset.x_test, name=array_name, target=target)
    except EdgekitError:
        Path(art.path).unlink(missing_ok=True)  # no bundle: its int8 file is not left behind as if it were one
        raise
    return art, report


def _stem(model) -> str:
    p = Path(str(getattr(model, "path", model)))
    return p.stem if p.suffix else p.name
