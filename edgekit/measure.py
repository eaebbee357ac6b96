"""The one measuring path: run an exported file on its runtime, compare it with its reference, score it
with the task's figures and time it.

``edgekit demo``/``train --export`` (:mod:`edgekit.pipeline`), tune's best bundle
(:mod:`edgekit.tuning.report`) and every compression variant (:mod:`edgekit.compression.api`) call
:func:`measure`; the runtime comes from the format table (:data:`edgekit.formats.FORMATS`).

It sits above runtime/, verify/ and bench/ (which it uses) and below pipeline, tune and compress, and
imports no TensorFlow itself (a Keras reference brings it in).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.artifact import Artifact, Latency, Parity
from edgekit.formats import format_of, runtime_for
from edgekit.records import BenchSettings


@dataclass
class Measurement:
    """What :func:`measure` found for one file. ``outputs`` are the file's outputs on the test split
    (kept for callers that score more; not written anywhere)."""

    path: str
    format: str
    runtime: str
    precision: str
    figures: dict[str, float | None]
    parity: Parity | None
    latency: Latency
    outputs: np.ndarray = field(repr=False)
    xnnpack_fallback: str | None = None  # LiteRT ran without XNNPACK because it refused the model

    @property
    def accuracy(self) -> float | None:
        return self.figures.get("accuracy")


def reference_outputs(reference, x: np.ndarray) -> np.ndarray:
    """A reference's outputs on ``x``: run it when it is a Runner, else it already is its outputs."""
    return np.asarray(reference.run(x) if hasattr(reference, "run") else reference)


def measure(artifact: Artifact | str | Path, reference, dataset, bench: BenchSettings = BenchSettings(), *,
            format: str | None = None, task: str | None = None, threshold: float | None = None,
            score=None) -> Measurement:
    """Measure ``artifact`` (an :class:`~edgekit.artifact.Artifact`, or a path with its ``format``)
    against ``reference`` (a Runner, or its outputs on ``dataset.x_test``; ``None``: no parity).

    The file runs once on the whole test split (parity and the task's figures come from those
    outputs) and is then timed on one sample in a freshly loaded runner (its load is the ``init``).
    ``task`` defaults to the dataset's; ``threshold`` is an anomaly model's score threshold;
    ``score(outputs) -> dict`` replaces the task's figures (:func:`edgekit.verification.tasks.score_outputs`).
    """
    from edgekit.benchmarking.harness import bench_runner
    from edgekit.runtime.base import load_runner
    from edgekit.verification import parity as _parity
    from edgekit.verification.tasks import score_outputs

    path = str(getattr(artifact, "path", artifact))
    record = not isinstance(artifact, (str, Path))  # a str has a .format method: not a record's field
    fmt = (artifact.format if record else None) or format or format_of(path)
    task = task or getattr(dataset, "task", None) or "classification"
    runtime = runtime_for(fmt)
    runner = load_runner(path, runtime, bench.threads)
    x = dataset.x_test
    several = len(runner.input_specs) > 1 or len(runner.output_specs) > 1
    if several and hasattr(reference, "run_named"):
        # several inputs or outputs: paired with the Keras model's by name (the final check's code);
        # the figures score the Keras model's first output, parity is the worst output's
        from edgekit.verification.check import as_feeds, compare_outputs, worst

        per_output, ref_named, got = compare_outputs(runner, reference, as_feeds(x, reference.input_specs),
                                                     classification=task == "classification")
        head = reference.output_specs[0].name
        outputs, ref, par = np.asarray(got[head]), np.asarray(ref_named[head]), worst(per_output)
    else:
        outputs = np.asarray(runner.run(x))
        ref = None if reference is None else reference_outputs(reference, x)
        par = _parity(ref, outputs, task == "classification") if ref is not None else None
    figures = score(outputs) if score is not None else score_outputs(task, outputs, dataset, reference=ref,
                                                                     threshold=threshold)
    first = {k: v[:1] for k, v in x.items()} if isinstance(x, dict) else x[:1]
    timed, lat = bench_runner(lambda: load_runner(path, runtime, bench.threads), bench.runs, bench.warmup, x=first)
    if hasattr(timed, "close"):
        timed.close()  # a worker process (TFLM)
    precision = (artifact.precision if record else None) or getattr(runner, "precision", None) or "fp32"
    return Measurement(path=path, format=fmt, runtime=runtime, precision=precision, figures=figures, parity=par,
                       latency=lat, outputs=outputs, xnnpack_fallback=getattr(timed, "xnnpack_fallback", None))
