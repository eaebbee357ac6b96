"""Export a Keras model (ours or any user's) to deployable files, as typed records.

    >>> art = edgekit.export("runs/mnv2/model.keras", to="tflite", precision="int8", data="digits", out="export/x")
    >>> art.path, art.bytes, art.input.scale

An export is planned first (:func:`_plan`: the model loaded, the data scaled, labels and the file name
decided, every refusal a user can cause raised), then :data:`STEPS` run in order, each a small
function of the job that applies to some exports: the .tflite is parsed once, edited in memory and
written once, and those bytes are what the final check loads, runs and compares and what is hashed.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgekit._io import atomic_path
from edgekit.artifact import (Artifact, ModelCard, Provenance, TensorSpec, file_bytes, library_versions,
                              remember_sha256, sha256_of)
from edgekit.formats import FORMATS, ExportFormat, check_format, check_io
from edgekit.errors import EdgekitError

__all__ = ["export", "export_mcu", "FORMATS", "STEPS"]
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
    (:mod:`edgekit.convert.app_input`). The steps it runs are :data:`STEPS`.
    """
    fmt = check_format(to, precision)
    io = check_io(fmt, precision, io)
    if fmt.name == "mcu":  # the bundle: int8 TFLite + C array + TFLM arena
        art, _ = export_mcu(model, data, out=out, name=name, unsafe=unsafe, seed=seed, input_range=input_range,
                            mean=mean, std=std, labels=labels, warn=warn, io=io)
        return art
    job = _plan(model, fmt, precision, data, Path(out), name=name, unsafe=unsafe, seed=seed, card=card,
                user=(input_range, mean, std), labels=labels, warn=warn, io=io)
    job.opset, job.info, job.fixed_batch = opset, info, fixed_batch
    return _run(job).art


def export_mcu(model, data, out: str | Path = "export", name: str | None = None, unsafe: bool = False,
               seed: int = 0, input_range=None, mean: float | None = None, std: float | None = None, labels=None,
               warn=None, target: str | None = "nucleo-l4r5zi", array_name: str = "g_model", io: str | None = None):
    """Microcontroller bundle: full-int8 TFLite, its C array, op resolver, TFLM-measured arena, mcu.json.

    The int8 .tflite is made by the same steps as ``export(to="tflite", precision="int8")`` and the
    bundle is built from that file. TFLM runs in a child process (it can abort); its outputs are
    compared with LiteRT's on the test split of ``data``. ``target``: the board of the latency
    estimate in mcu.json (None: none); ``array_name``: the C identifier of the model array. ``io``:
    int8 (default, what CMSIS-NN and MLPerf Tiny's reference models take) or uint8. Returns
    ``(artifact, McuReport)``.
    """
    from edgekit.convert.mcu import c_array

    io = check_io(FORMATS["mcu"], "int8", io)
    c_array(b"", array_name)  # a bad identifier is an error before any slow step
    if target is not None:
        from edgekit.benchmarking.mcu_targets import get_target

        get_target(target)  # so is an unknown board
    if data is None:
        raise EdgekitError("an MCU bundle is full int8: pass --data for calibration and the TFLM/LiteRT check.")
    job = _plan(model, FORMATS["mcu"], "int8", data, Path(out), name=name or _stem(model), unsafe=unsafe, seed=seed,
                card=None, user=(input_range, mean, std), labels=labels, warn=warn, io=io)
    job.array_name, job.target = array_name, target
    job = _run(job)
    return job.art, job.mcu


# ---------------------------------------------------------------------------------------------
# The state the steps pass on


@dataclass
class _Job:
    """One export: what was asked and resolved up front, and what each step adds."""

    fmt: ExportFormat
    precision: str
    io: str | None
    loaded: object  # LoadedModel
    source: str
    dataset: object | None  # Dataset scaled as the model expects, or None
    normalization: object | None  # Normalization
    labels: list[str] | None
    meta: dict  # edgekit's own metadata entry (model, normalization, labels, source, preprocessing)
    dest: Path
    seed: int = 0
    warn: object = None
    opset: int | None = None
    info: object = None  # tflite_metadata.ModelInfo
    fixed_batch: bool = False
    array_name: str = "g_model"
    target: str | None = None
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat())
    # filled in by the steps
    reference: object = None  # the Keras runner every check compares with
    feeds: dict = field(default_factory=dict)  # the final check's inputs, keyed by Keras input name
    model: object = None  # the parsed .tflite (schema ModelT) that is edited, then written once
    proto: object = None  # the ONNX graph
    packed: dict = field(default_factory=dict)  # files zipped after the .tflite flatbuffer (labels.txt)
    extra: dict = field(default_factory=dict)  # the Artifact's format-specific facts
    art: Artifact | None = None
    outputs: list = field(default_factory=list)  # the final check's per-output parity
    mcu: object = None  # McuReport

    @property
    def out(self) -> Path:
        return self.dest.parent

    @property
    def tflite(self) -> bool:
        """A .tflite file (also the int8 file of an MCU bundle)."""
        return self.fmt.suffix == ".tflite"

    @property
    def runtime(self) -> str:
        """Where the file's final check runs: LiteRT for a .tflite (the bundle's TFLM check is its own)."""
        return FORMATS["tflite"].runtime if self.tflite else self.fmt.runtime


def _plan(model, fmt: ExportFormat, precision: str, data, out: Path, *, name, unsafe: bool, seed: int, card,
          user, labels, warn, io) -> _Job:
    """Load the model, scale the data as it expects, decide the labels and the file's name: every
    refusal a user can cause, before the slow steps."""
    from edgekit.data.scaling import user_scaling
    from edgekit.models.load import LoadedModel, as_loaded
    from edgekit.models.preprocessing import resolve_scaling

    loaded = as_loaded(model, unsafe=unsafe)
    source = str(model) if isinstance(model, (str, Path)) else (
        model.path if isinstance(model, LoadedModel) else getattr(model, "name", "model"))
    if card is None and isinstance(model, (str, Path, LoadedModel)):
        card = ModelCard.read_beside(source)
    if fmt.name == "mcu":
        from edgekit.models.signature import input_specs

        ins = input_specs(loaded)
        if len(ins) != 1:
            raise EdgekitError(f"the MCU bundle takes one input; this model takes {len(ins)} "
                               f"({', '.join(s.name for s in ins)}): export it --to tflite instead.")
    user = user_scaling(*user)
    dataset, scaling = _resolve_data(data, loaded, seed, card, user, warn)
    if precision in fmt.needs_data and dataset is None:
        raise EdgekitError(f"{fmt.name} {precision} export needs calibration data: pass --data (e.g. --data digits).")
    if dataset is None:
        scaling = resolve_scaling(loaded.model, card, user, warn)
    normalization = dataset.normalization if dataset is not None else (
        scaling.normalization_for(None) if scaling is not None else None)
    if normalization is None and len(loaded.input_shape) == 4 and "float" in loaded.input_dtype and warn:
        warn("the model declares no input scaling and none was given: the file records no normalization "
             "(pass --input-range LOW,HIGH or --mean/--std, or --data).")
    labels = _labels(labels, dataset, card, loaded, warn)
    stem = name or (Path(source).stem if Path(source).suffix else Path(source).name) or loaded.name
    preprocessing = dataset.preprocessing if dataset is not None else (card.preprocessing if card else None)
    meta = {"model": stem, "normalization": normalization.model_dump() if normalization else None,
            "normalization_source": scaling.describe() if scaling is not None else (
                "the data's default" if dataset is not None else None),
            "labels": labels, "source": source}
    if preprocessing:
        meta["preprocessing"] = preprocessing
    return _Job(fmt=fmt, precision=precision, io=io, loaded=loaded, source=source, dataset=dataset,
                normalization=normalization, labels=labels, meta=meta, seed=seed, warn=warn,
                dest=out / f"{stem}_{precision}{fmt.suffix}")


def _labels(labels, dataset, card, loaded, warn) -> list[str] | None:
    """The labels the file records: given, else the data's classes, else model.json's; dropped (with
    a warning) when they do not name the model's outputs."""
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
        return None
    return labels


# ---------------------------------------------------------------------------------------------
# The steps, in order. Each reads and fills the job; ``applies`` says for which exports it runs.


def _reference(job: _Job) -> None:
    """The Keras model as the runner every check compares with, and the final check's inputs."""
    from edgekit.runtime.keras import KerasRunner

    job.reference = KerasRunner(job.source, loaded=job.loaded)
    job.feeds = _check_feeds(job.dataset, job.reference, job.normalization, job.loaded, job.seed)


def _convert_tflite(job: _Job) -> None:
    """The TFLiteConverter's file, parsed once: the later steps edit that parsed model."""
    from edgekit.convert.tflite import to_tflite_model

    rep = _representative(job.dataset, job.reference) if job.dataset is not None else None
    job.model = to_tflite_model(job.loaded, job.precision, rep, fixed_batch=job.fixed_batch, io=job.io or "int8")


def _raw_pixel_input(job: _Job) -> None:
    """A uint8 image input on the 8-bit pixel grid: what an app feeds it is camera bytes, unchanged."""
    from edgekit.convert.app_input import pin_raw_pixel_input

    job.extra["raw_pixel_input"] = pin_raw_pixel_input(job.model, job.normalization)


def _edgekit_metadata(job: _Job) -> None:
    from edgekit.convert.tflite import set_metadata

    set_metadata(job.model, job.meta)


def _standard_metadata(job: _Job) -> None:
    """The metadata apps read (normalization, labels.txt), written from the record of the file-to-be;
    its tensor specs are the parsed model's (what LiteRT will report for them)."""
    from edgekit.convert.tflite_metadata import ModelInfo, add_standard_metadata, tensor_spec

    sg = job.model.subgraphs[0]
    draft = _record(job, tensor_spec(sg.tensors[sg.inputs[0]]), tensor_spec(sg.tensors[sg.outputs[0]]), 0, "")
    job.packed, job.extra["tflite_metadata"] = add_standard_metadata(
        job.model, draft, job.info or ModelInfo(), job.meta.get("preprocessing"))


def _convert_onnx(job: _Job) -> None:
    from edgekit.convert.onnx import DEFAULT_OPSET, to_onnx

    job.extra["opset"] = job.opset or DEFAULT_OPSET
    job.proto = to_onnx(job.loaded, job.extra["opset"], job.meta)


def _write_and_check(job: _Job) -> None:
    """Write the file once under a temporary name, run the final check on exactly those bytes
    (:func:`edgekit.verification.check.final_check`) and only then give them the final name. The
    record's specs are those the runtime reported while it ran them; its digest is of those bytes."""
    from edgekit.verification.check import final_check

    data = None
    with atomic_path(job.dest) as tmp:
        if job.tflite:
            from edgekit.convert.tflite_metadata import serialize

            data = serialize(job.model, job.packed)
            tmp.write_bytes(data)
        else:
            _write_onnx(job.proto, tmp, job.precision, job.dataset, job.reference, job.seed, job.extra)
        runner, job.outputs = final_check(tmp, job.runtime, job.reference, job.feeds, job.precision,
                                          job.dest.name, job.fmt)
        size, digest = (len(data), hashlib.sha256(data).hexdigest()) if data is not None else (
            file_bytes(tmp), sha256_of(tmp))
        job.art = _record(job, runner.input_spec, runner.output_spec, size, digest)
    remember_sha256(job.dest, digest)
    if data is not None:
        from edgekit.tflite_file import remember

        remember(job.dest, data, job.model)  # later readers (GPU check, MCU bundle, bench) reuse the parse


def _sidecar_files(job: _Job) -> None:
    """Files an app needs beside the model (e.g. vocab.txt for a text model)."""
    from edgekit.data.bundle import write_preprocessing_files

    job.extra["files"] = write_preprocessing_files(job.meta["preprocessing"], job.out)


def _xnnpack_check(job: _Job) -> None:
    """The file is valid and kept; say so when LiteRT's default CPU path (XNNPACK) would refuse it."""
    from edgekit.xnnpack import requant_problems, summary

    problems = requant_problems(job.model)
    if problems:
        job.extra["xnnpack_refuses"] = [p.describe() for p in problems]
        (job.warn or _stderr_warn)(summary(problems))


def _gpu_check(job: _Job) -> None:
    from edgekit.runtime.gpu import gpu_compatibility

    job.art = job.art.model_copy(update={"gpu": gpu_compatibility(job.dest)})


def _mcu_bundle(job: _Job) -> None:
    """The microcontroller bundle, from the int8 file just written and checked."""
    from edgekit.convert.mcu import build_mcu_bundle

    job.mcu = build_mcu_bundle(job.dest, job.out, job.dataset.x_test, name=job.array_name, target=job.target)


@dataclass(frozen=True)
class Step:
    """One named step of an export and the exports it applies to."""

    name: str
    run: Callable[[_Job], None]
    applies: Callable[[_Job], bool] = lambda job: True
    converter_log: bool = False  # its converter/native lines go to <out>/convert.log


STEPS: tuple[Step, ...] = (
    Step("reference", _reference, converter_log=True),
    Step("convert to tflite", _convert_tflite, lambda j: j.tflite, converter_log=True),
    Step("raw-pixel input", _raw_pixel_input, lambda j: j.tflite and j.io == "uint8"),
    Step("edgekit metadata", _edgekit_metadata, lambda j: j.tflite),
    Step("standard metadata", _standard_metadata, lambda j: j.tflite),
    Step("convert to onnx", _convert_onnx, lambda j: j.fmt.name == "onnx", converter_log=True),
    Step("write, load and check", _write_and_check, converter_log=True),
    Step("sidecar files", _sidecar_files, lambda j: bool(j.meta.get("preprocessing"))),
    Step("xnnpack check", _xnnpack_check, lambda j: j.tflite and j.precision == "int8"),
    Step("gpu check", _gpu_check, lambda j: j.tflite),
    Step("mcu bundle", _mcu_bundle, lambda j: j.fmt.name == "mcu"),
)


def _run(job: _Job) -> _Job:
    """Run :data:`STEPS` on ``job``. Converter, tf2onnx and absl lines go to ``<out>/convert.log``, not
    between edgekit's own lines; a failed step leaves nothing new in ``out``."""
    from edgekit._native import native_log

    with _nothing_left_on_failure(job.out):
        for step in STEPS:
            if step.applies(job):
                with native_log(job.out / CONVERT_LOG) if step.converter_log else contextlib.nullcontext():
                    step.run(job)
    checked = f"samples of {job.dataset.name}'s validation split" if job.dataset is not None else "random inputs"
    job.art = job.art.model_copy(update={"extra": dict(job.extra, final_check=[o.model_dump() for o in job.outputs],
                                                       final_check_inputs=checked)})
    return job


def _record(job: _Job, input_spec, output_spec, size: int, digest: str) -> Artifact:
    return Artifact(
        path=str(job.dest), format=job.fmt.name if job.fmt.name != "mcu" else "tflite", precision=job.precision,
        bytes=size, sha256=digest, input=input_spec, output=output_spec, normalization=job.normalization,
        labels=job.labels, extra=dict(job.extra),
        provenance=Provenance(source_model=job.source, data=job.dataset.name if job.dataset is not None else None,
                              steps=[f"{'tflite' if job.tflite else job.fmt.name}:{job.precision}"],
                              versions=library_versions(), created=job.created),
    )


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


def _stem(model) -> str:
    p = Path(str(getattr(model, "path", model)))
    return p.stem if p.suffix else p.name
