"""Roofline fractions of a MobileNet sweep against each row's own precision's ceiling.

A row's ``ceiling_fraction`` is its achieved GMAC/s (MACs over the median of its raw latencies)
divided by the ceiling of its precision: float32 rows by the numpy sgemm ceiling measured in the
sweep run (``doc["ceiling"]``), int8 rows by onnxruntime's int8 ``MatMulInteger`` ceiling
(``doc["ceiling_int8"]``, :func:`edgekit.benchmarking.ceiling.int8_matmul_ceiling`). A fraction above 1
gets a ``ceiling_note`` saying why it can happen.

Recompute a finished sweep from its raw latencies, without timing a single model again (the
int8 ceiling is measured now, on this machine, and recorded as such)::

    python benchmarks/sweep_ceilings.py benchmarks/results/mobilenet_sweep.json [more.json ...]
"""

from __future__ import annotations

import datetime as _dt
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def apply_ceilings(doc: dict) -> int:
    """Set ``gmacs_per_s``, ``ceiling_fraction``, ``ceiling_precision`` (and ``ceiling_note`` above
    100%) on every measured row of ``doc``; return how many rows are above 100%."""
    ceilings = {"fp32": doc["ceiling"]["gmacs_per_s"], "int8": doc["ceiling_int8"]["gmacs_per_s"]}
    over = 0
    for r in doc["rows"]:
        if r.get("error") or not r.get("macs"):
            continue
        p50 = statistics.median(r["raw_ms"]) if r.get("raw_ms") else r["p50_ms"]
        prec = "int8" if r["precision"] == "int8" else "fp32"
        gmacs = r["macs"] / (p50 / 1e3) / 1e9
        r.update(gmacs_per_s=round(gmacs, 4), ceiling_precision=prec, ceiling_fraction=round(gmacs / ceilings[prec], 4))
        r.pop("ceiling_note", None)
        if r["ceiling_fraction"] > 1:
            over += 1
            r["ceiling_note"] = (f"{r['ceiling_fraction']:.0%} of the {prec} ceiling: the ceiling is one large "
                                 "matrix product on this core; this row's kernels kept more data in cache or used "
                                 "instructions the reference product does not, so it is not a hard upper bound")
    return over


def recompute(path: Path) -> None:
    from edgekit.benchmarking.ceiling import int8_matmul_ceiling
    from edgekit.benchmarking.harness import machine_info

    from mobilenet_sweep import markdown, plot  # noqa: E402 - beside this file

    doc = json.loads(path.read_text())
    c8 = int8_matmul_ceiling().model_dump()
    c8["measured"] = _dt.datetime.now().isoformat(timespec="seconds")
    c8["note"] = ("measured after the sweep, by benchmarks/sweep_ceilings.py, on " + machine_info()["cpu"]
                  + " with flags " + ",".join(machine_info()["flags"]) + "; the sweep's own machine: "
                  + doc["machine"]["cpu"] + " " + ",".join(doc["machine"]["flags"]))
    doc["ceiling_int8"] = c8
    over = apply_ceilings(doc)
    doc["ceilings_recomputed"] = (f"{c8['measured']}: ceiling_fraction recomputed from each row's raw latencies "
                                  "against its own precision's ceiling; no model was timed again")
    # provenance of this recomputation (commit, date, versions); the rows' raw latencies stay as measured, and
    # a sweep run before benchmarks/_provenance.py existed says its own measurement provenance was not recorded
    doc.setdefault("measurement_provenance", doc.get("provenance") or "not recorded (the sweep predates "
                                                                     "benchmarks/_provenance.py)")
    from _provenance import write_markdown, write_results

    path = write_results(path, doc, indent=1)  # a stamped file beside the sweep: the sweep itself is kept
    doc = json.loads(path.read_text())
    plot(doc["rows"], path.with_suffix(".png"))
    write_markdown(path, markdown(doc))
    print(f"{path}: int8 ceiling {c8['gmacs_per_s']:.1f} GMAC/s, fp32 {doc['ceiling']['gmacs_per_s']:.1f}; "
          f"{over} rows above 100%")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    for p in sys.argv[1:]:
        recompute(Path(p))
