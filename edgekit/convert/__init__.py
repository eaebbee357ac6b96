"""Export a Keras model (ours or any user's) to deployable files, as typed records.

    >>> art = edgekit.export("runs/mnv2/model.keras", to="tflite", precision="int8", data="digits", out="export/x")
    >>> art.path, art.bytes, art.input.scale
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from edgekit._io import atomic_path
from edgekit.artifact import Artifact, ModelCard, Provenance, TensorSpec, library_versions
from edgekit.convert.formats import FORMATS, check_format
from edgekit.errors import EdgekitError

__all__ = ["export", "FORMATS"]


def export(model, to: str = "tflite", precision: str = "fp32", data=None, out: str | Path = "export",
           name: str | None = None, opset: int | None = None, unsafe: bool = False, seed: int = 0,
           card: ModelCard | None = None) -> Artifact:
    """Convert ``model`` (a path, a Keras model or a LoadedModel) and write it under ``out``.

    ``data`` (a Dataset or a dataset source such as ``"digits"``) supplies int8 calibration
    samples from its training split and the normalization recorded with the artifact.
    """
    fmt = check_format(to, precision)
    from edgekit.models.load import LoadedModel, load_model

    if isinstance(model, (str, Path)):
        source = str(model)
        loaded = load_model(model, unsafe=unsafe)
        card = card or ModelCard.read_beside(model)
    elif isinstance(model, LoadedModel):
        loaded, source = model, model.path
    else:
        loaded, source = LoadedModel(path=getattr(model, "name", "model"), flavour="tf_keras", model=model), getattr(model, "name", "model")

    dataset = _resolve_data(data, loaded, seed)
    if precision in fmt.needs_data and dataset is None:
        raise EdgekitError(f"{to} {precision} export needs calibration data: pass --data (e.g. --data digits).")
    normalization = dataset.normalization if dataset is not None else (card.normalization if card else None)
    labels = dataset.class_names if dataset is not None else (card.labels if card else None)

    stem = name or (Path(source).stem if Path(source).suffix else Path(source).name) or loaded.name
    dest = Path(out) / f"{stem}_{precision}{fmt.suffix}"
    meta = {"model": stem, "normalization": normalization.model_dump() if normalization else None,
            "labels": labels, "source": source}
    extra: dict = {}
    if to == "tflite":
        from edgekit.convert.tflite import add_metadata, to_tflite

        rep = dataset.representative() if dataset is not None else None
        blob = add_metadata(to_tflite(loaded, precision, rep), meta)
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
                from edgekit.convert.onnx import quantize_onnx_int8

                fp32_tmp = tmp.with_name(tmp.name + ".fp32.onnx")
                onnx.save(proto, str(fp32_tmp))
                try:
                    quantize_onnx_int8(fp32_tmp, tmp, dataset.representative())
                finally:
                    fp32_tmp.unlink(missing_ok=True)
            else:
                onnx.save(proto, str(tmp))
        runner = _load_check(tmp, dest, fmt.runtime)
    steps = [f"{to}:{precision}"]
    return Artifact.from_file(
        dest, format=to, precision=precision, input=runner.input_spec, output=runner.output_spec,
        normalization=normalization, labels=labels, extra=extra,
        provenance=Provenance(source_model=source, data=dataset.name if dataset is not None else None, steps=steps,
                              versions=library_versions(), created=_dt.datetime.now(_dt.timezone.utc).isoformat()),
    )


def _load_check(tmp: Path, dest: Path, runtime: str):
    """Load the freshly written file in its runtime; a failure names the final file and says nothing was kept."""
    from edgekit.runtime.base import load_runner

    try:
        return load_runner(tmp, runtime)
    except Exception as e:  # noqa: BLE001 - any load failure means the export is unusable
        why = str(e).replace(str(tmp), dest.name).strip().splitlines()
        raise EdgekitError(f"{dest.name}: the converted file does not load in {runtime} "
                           f"({(why or [type(e).__name__])[0][:200]}); it was not kept.") from e


def _resolve_data(data, loaded, seed):
    if data is None:
        return None
    from edgekit.data import Dataset, load_dataset

    if isinstance(data, Dataset):
        return data
    return load_dataset(data, input_shape=loaded.input_shape[1:], seed=seed)


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
               seed: int = 0):
    """Microcontroller bundle: full-int8 TFLite, its C array, op resolver, TFLM-measured arena, mcu.json.

    TFLM runs in a child process (it can abort); its outputs are compared with LiteRT's on the
    test split of ``data``. Returns ``(artifact, McuReport)``.
    """
    from edgekit.convert.mcu import build_mcu_bundle
    from edgekit.models.load import LoadedModel, load_model

    if data is None:
        raise EdgekitError("an MCU bundle is full int8: pass --data for calibration and the TFLM/LiteRT check.")
    loaded = model if isinstance(model, LoadedModel) else load_model(model, unsafe=unsafe)
    dataset = _resolve_data(data, loaded, seed)
    art = export(loaded, to="tflite", precision="int8", data=dataset, out=out, name=name or _stem(model), seed=seed)
    report = build_mcu_bundle(art.path, out, dataset.x_test)
    return art, report


def _stem(model) -> str:
    p = Path(str(getattr(model, "path", model)))
    return p.stem if p.suffix else p.name
