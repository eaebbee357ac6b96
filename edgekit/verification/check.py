"""The final check: a converted file is run in its runtime and compared with its Keras model before
it gets its final name, and ``edgekit verify`` runs the same code.

The file must take exactly the Keras model's inputs (names, count, shapes) and give its outputs,
which are mapped to the Keras outputs by name and shape, never by position (the TFLite converter
may reorder outputs). Each output is compared on its own; a non-finite output or a cosine below the
precision's floor (:data:`FLOORS`) fails the export with one line, and no file is kept.
"""

from __future__ import annotations

import re

import numpy as np

from edgekit.artifact import TensorSpec
from edgekit.errors import EdgekitError, first_line
from edgekit.records import OutputParity

# The lowest per-output cosine (file vs Keras, on CHECK_SAMPLES inputs) a file may have and still be
# written, per precision. They sit below what honest files reach (fp32 ~1 - 1e-7; fp16 ~1 - 1e-5;
# int8 of a small trained model >= 0.99 on its data) and far above what broken ones give (NaN,
# outputs swapped or from another graph: cosine < 0.9). They are a floor against broken files, not a
# quality gate: `edgekit verify --min-cosine / --min-top1-agreement` gates quality (the gates:
# fp32 cosine >= 0.9999, int8 top-1 agreement >= 0.97 on data).
FLOORS: dict[str, float] = {
    "fp32": 0.9999,
    "fp16": 0.999,
    "dynamic": 0.99,
    "int16x8": 0.99,
    "int8": 0.95,
    "int8_per_tensor": 0.95,
    "qat_int8": 0.95,
}
CHECK_SAMPLES = 16  # inputs the final check runs: a few from the data's validation split, else random


def floor_for(precision: str) -> float:
    return FLOORS.get(precision, FLOORS["int8"])


def _bare_name(name: str) -> str:
    """A name as runtimes spell it, reduced: ``serving_default_image:0`` -> ``image``."""
    n = re.sub(r":\d+$", "", str(name))
    n = re.sub(r"^serving_default_", "", n)
    return n.lower()


def _dims(spec: TensorSpec) -> tuple:
    return tuple(spec.shape[1:])


def _fits(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _pair(ref: list[TensorSpec], cand: list[TensorSpec], what: str, file: str) -> dict[str, str]:
    """``{keras name: file name}``: by name, then ``output_<i>`` (Keras 3's signature keys), then the
    one left, then a shape only one of them has. Refuses counts that differ and pairs it cannot tell."""
    if len(ref) != len(cand):
        extra = [c.name for c in cand if _bare_name(c.name) not in {_bare_name(r.name) for r in ref}]
        missing = [r.name for r in ref if _bare_name(r.name) not in {_bare_name(c.name) for c in cand}]
        detail = (f"; extra: {', '.join(extra)}" if extra and len(cand) > len(ref) else
                  f"; missing: {', '.join(missing)}" if missing and len(cand) < len(ref) else "")
        raise EdgekitError(f"{file} has {len(cand)} {what}s ({', '.join(c.name for c in cand)}) but the Keras model "
                           f"has {len(ref)} ({', '.join(r.name for r in ref)}){detail}")
    pairs: dict[str, str] = {}
    left_ref, left_cand = list(ref), list(cand)

    def take(r, c):
        pairs[r.name] = c.name
        left_ref.remove(r)
        left_cand.remove(c)

    for r in list(left_ref):
        c = next((c for c in left_cand if _bare_name(c.name) == _bare_name(r.name)), None)
        if c is not None:
            take(r, c)
    for i, r in enumerate(ref):
        c = next((c for c in left_cand if _bare_name(c.name) == f"{what}_{i}"), None)
        if r in left_ref and c is not None:
            take(r, c)
    for r in list(left_ref):
        same = [c for c in left_cand if _fits(_dims(c), _dims(r))]
        if len(left_ref) == 1 and len(left_cand) == 1 or len(same) == 1 and sum(
                _fits(_dims(same[0]), _dims(o)) for o in left_ref) == 1:
            take(r, left_cand[0] if len(left_cand) == 1 else same[0])
    if left_ref:
        raise EdgekitError(f"{file}: cannot tell which of its {what}s ({', '.join(c.name for c in left_cand)}) is the "
                           f"Keras model's {', '.join(r.name for r in left_ref)} (no name or shape tells them apart); "
                           f"give the model's {what} layers distinct names.")
    by_name = {c.name: c for c in cand}
    for r in ref:
        c = by_name[pairs[r.name]]
        if not _fits(_dims(c), _dims(r)):
            raise EdgekitError(f"{file}: {what} {c.name} has shape {_dims(c)} but the Keras model's {r.name} has "
                               f"{_dims(r)}; is it the model it was exported from?")
        if what == "input" and _kind(c) != _kind(r):
            raise EdgekitError(f"{file}: input {c.name} takes {c.dtype} but the Keras model's {r.name} takes "
                               f"{r.dtype} ({_kind(r)}); is it the model it was exported from?")
    return pairs


def _kind(spec: TensorSpec) -> str:
    """'token ids' for integer inputs, 'values' for floats and quantized integers (a scale maps floats)."""
    integer = str(spec.dtype).startswith(("int", "uint"))
    return "token ids" if integer and spec.scale is None else "values"


def map_inputs(reference, candidate, file: str) -> dict[str, str]:
    return _pair(reference.input_specs, candidate.input_specs, "input", file)


def map_outputs(reference, candidate, file: str) -> dict[str, str]:
    return _pair(reference.output_specs, candidate.output_specs, "output", file)


def as_feeds(x, specs: list[TensorSpec]) -> dict[str, np.ndarray]:
    """``x`` (one array, or a dict keyed by input name) as one array per Keras input name; a missing
    or unknown name is refused in one line."""
    names = [s.name for s in specs]
    if not isinstance(x, dict):
        if len(names) != 1:
            raise EdgekitError(f"the model takes {len(names)} inputs ({', '.join(names)}); give the data as an .npz "
                               "with one array per input name (plus y), or a dict in Python.")
        x = {names[0]: x}
    elif set(x) != set(names):
        got = ", ".join(sorted(x)) or "none"
        raise EdgekitError(f"the data have arrays {got} but the model's inputs are {', '.join(names)}; "
                           "key one array per input name.")
    feeds = {k: np.asarray(x[k]) for k in names}
    for s in specs:
        v = feeds[s.name]
        if _kind(s) == "token ids" and np.issubdtype(v.dtype, np.floating) and not np.all(np.equal(np.mod(v, 1), 0)):
            raise EdgekitError(f"the model's input {s.name} takes token ids ({s.dtype}) but the data are fractional "
                               f"{v.dtype} values; give the ids the model was trained on.")
    return feeds


def compare_outputs(candidate, reference, feeds: dict[str, np.ndarray], file: str | None = None,
                    classification: bool = True):
    """Run both on ``feeds`` (keyed by the Keras input names) and compare each output by name:
    ``(parities, reference outputs, file outputs)``, the outputs keyed by the Keras output names."""
    from edgekit.verification import parity

    file = file or candidate.path.name
    in_pairs = map_inputs(reference, candidate, file)
    out_pairs = map_outputs(reference, candidate, file)
    ref_out = reference.run_named(feeds)
    got = candidate.run_named({in_pairs[k]: v for k, v in feeds.items()})
    got = {spec.name: got[out_pairs[spec.name]] for spec in reference.output_specs}
    res = []
    for spec in reference.output_specs:
        a, b = np.asarray(ref_out[spec.name]), np.asarray(got[spec.name])
        finite = bool(np.all(np.isfinite(b)))
        with np.errstate(invalid="ignore", over="ignore"):
            p = parity(a, b, classification and len(spec.shape) == 2)
        res.append(OutputParity(name=spec.name, file_name=out_pairs[spec.name], shape=list(spec.shape),
                                cosine=p.cosine, max_abs=p.max_abs, top1_agreement=p.top1_agreement, n=p.n,
                                finite=finite, reference_finite=bool(np.all(np.isfinite(a)))))
    return res, ref_out, got


def worst(outputs: list[OutputParity]):
    """One :class:`~edgekit.artifact.Parity` for several outputs: the lowest cosine and top-1
    agreement and the largest difference (a gate passes only if every output passes it)."""
    from edgekit.artifact import Parity

    top1 = [o.top1_agreement for o in outputs if o.top1_agreement is not None]
    return Parity(cosine=min(o.cosine for o in outputs) if all(np.isfinite(o.cosine) for o in outputs) else float("nan"),
                  max_abs=max(o.max_abs for o in outputs), top1_agreement=min(top1) if top1 else None,
                  n=outputs[0].n)


def check_outputs(outputs: list[OutputParity], precision: str, file: str, fmt=None) -> None:
    """Raise one line for the first output that is non-finite or below the precision's floor (with
    ``fmt``, the :class:`~edgekit.formats.ExportFormat` being made, saying which of its precisions
    keep the activations in float)."""
    floor = floor_for(precision)
    several = len(outputs) > 1
    for o in outputs:
        which = f"output {o.name}" if several else "its output"
        if o.finite and not o.reference_finite:
            raise EdgekitError(f"{file}: the Keras model's own {which.replace('its ', '')} is not finite (NaN or inf) "
                               f"on {o.n} inputs, so the file cannot be checked against it; it was not kept.")
        if not o.finite or not np.isfinite(o.cosine):
            also = "" if o.reference_finite else " (so is the Keras model's own: check its weights and inputs)"
            raise EdgekitError(f"{file}: {which} is not finite (NaN or inf) on {o.n} inputs in its runtime{also}; "
                               "it was not kept.")
        if o.cosine < floor:
            raise EdgekitError(f"{file}: {which} agrees with Keras at cosine {o.cosine:.6g} on {o.n} inputs, below "
                               f"the {precision} floor {floor:g}; it was not kept.{_float_hint(precision, fmt)}")


def _float_hint(precision: str, fmt) -> str:
    """What to try when calibrated integer activations lose too much: the precisions ``fmt`` offers
    that keep them in float, smallest file first (its table lists them largest first), fp32 only
    where there is nothing smaller. (Recurrent layers are where it happens most: a Keras 3 GRU's
    int8 .tflite agreed at cosine 0.76 where its dynamic-range and fp16 files agreed at 1.000000.)"""
    if fmt is None or precision not in fmt.needs_data:
        return ""
    floats = [p for p in reversed(fmt.precisions) if p not in fmt.needs_data]
    smaller = [p for p in floats if p != "fp32"] or floats
    if not smaller:  # the MCU bundle is int8 or nothing
        return ""
    compare = "; `edgekit compress` compares every precision on your data" if fmt.ptq else ""
    return f" Try --precision {' or '.join(smaller)} (float activations){compare}."


def check_inputs(reference, rng_seed: int = 0, n: int = CHECK_SAMPLES, value_range=(-1.0, 1.0),
                 vocabulary: int | None = None) -> dict[str, np.ndarray]:
    """Random inputs per Keras input: floats uniform in ``value_range`` (the range the model is fed),
    token ids in ``0..vocabulary-1`` for integer inputs."""
    rng = np.random.default_rng(rng_seed)
    feeds = {}
    for s in reference.input_specs:
        dims = tuple(d if d is not None else 1 for d in s.shape[1:])
        if str(s.dtype).startswith(("int", "uint")):
            feeds[s.name] = rng.integers(0, vocabulary or 16, size=(n,) + dims).astype(s.dtype)
        else:
            feeds[s.name] = rng.uniform(value_range[0], value_range[1], size=(n,) + dims).astype(np.float32)
    return feeds


def embedding_vocabulary(model) -> int | None:
    """The smallest ``input_dim`` of the model's Embedding layers: token ids below it are valid."""
    dims = []

    def walk(layer):
        if hasattr(layer, "input_dim") and type(layer).__name__ == "Embedding":
            dims.append(int(layer.input_dim))
        for sub in getattr(layer, "layers", None) or []:
            walk(sub)

    if model is not None:
        walk(model)
    return min(dims) if dims else None


def final_check(path, runtime: str, reference, feeds: dict[str, np.ndarray], precision: str, dest_name: str,
                fmt=None):
    """Load ``path`` (the file under its temporary name) in ``runtime``, run it on ``feeds`` beside
    ``reference`` (a Keras runner) and raise one line naming ``dest_name`` when it fails. Returns
    ``(runner, outputs)``."""
    runner = load_checked(path, runtime, dest_name)
    try:
        outputs = compare_outputs(runner, reference, feeds, file=dest_name)[0]
    except EdgekitError as e:
        raise EdgekitError(f"{str(e).rstrip('.')}; it was not kept.") from e
    except Exception as e:  # noqa: BLE001 - the runtime failed while running it: unusable too
        raise EdgekitError(f"{dest_name}: the converted file does not run in {runtime} "
                           f"({_said(e, path, dest_name)}); it was not kept.") from e
    check_outputs(outputs, precision, dest_name, fmt)
    return runner, outputs


def load_checked(path, runtime: str, dest_name: str):
    """``path`` loaded in ``runtime``; a failure is one line naming ``dest_name``."""
    from edgekit.runtime.base import load_runner

    try:
        return load_runner(path, runtime)
    except Exception as e:  # noqa: BLE001 - any load failure means the export is unusable
        raise EdgekitError(f"{dest_name}: the converted file does not load in {runtime} "
                           f"({_said(e, path, dest_name)}); it was not kept.") from e


def _said(e: BaseException, path, dest_name: str) -> str:
    """The runtime's first line about the file, naming it as the user will see it (not its temporary name)."""
    return first_line(str(e).replace(str(path), dest_name)) or type(e).__name__
