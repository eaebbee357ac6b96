"""``edgekit compare A.json B.json [...]``: latency changes with a bootstrap confidence interval.

The first file is the baseline; every other file is compared with it. Results are matched by
(model name = artifact file stem, format, precision, runtime, threads). For each match::

    ratio = candidate p50 / baseline p50            (> 1: slower)
    CI    = 95% bootstrap interval of that ratio of medians, resampling each file's raw timings
    significant  = the CI excludes 1.0
    regression   = significant and ratio > 1 + threshold

:func:`has_regression` is what the CLI's exit code follows, so ``compare`` can gate CI.
No TensorFlow; reads the JSON ``edgekit bench --json`` writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from edgekit.errors import EdgekitError

DEFAULT_THRESHOLD = 0.10
DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0


class CompareRow(BaseModel):
    model: str
    format: str
    precision: str
    runtime: str
    threads: int
    baseline_file: str
    candidate_file: str
    baseline_p50: float
    candidate_p50: float
    ratio: float
    ci_low: float | None
    ci_high: float | None
    n_baseline: int
    n_candidate: int
    significant: bool
    regression: bool
    status: str  # "same", "faster", "slower", "REGRESSION", or "no raw timings"


class CompareResult(BaseModel):
    baseline: str
    candidates: list[str]
    threshold: float
    confidence: float
    resamples: int
    seed: int
    rows: list[CompareRow] = Field(default_factory=list)
    unmatched: list[str] = Field(default_factory=list)  # "file: key" present on one side only
    machines: dict[str, dict] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


Key = tuple[str, str, str, str, int]


def _key_str(k: Key) -> str:
    model, fmt, prec, rt, th = k
    return f"{model} {fmt}/{prec} {rt} x{th}"


def load_bench(path: str | Path) -> dict:
    """Read and check one bench JSON file."""
    p = Path(path)
    if not p.is_file():
        raise EdgekitError(f"{p}: no such file. Pass JSON files written by `edgekit bench --json`.")
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EdgekitError(f"{p} is not JSON ({e.__class__.__name__}); pass files written by `edgekit bench --json`.") from e
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise EdgekitError(f"{p} has no 'results' list; pass files written by `edgekit bench --json`.")
    for i, r in enumerate(data["results"]):
        missing = [k for k in ("artifact", "runtime", "latency_ms") if k not in r]
        if missing or not isinstance(r.get("latency_ms"), dict) or "p50" not in r["latency_ms"]:
            what = ", ".join(missing) if missing else "latency_ms.p50"
            raise EdgekitError(f"{p}: result {i} lacks {what}; re-run `edgekit bench --json`.")
    return data


def _key(r: dict) -> Key:
    lat = r["latency_ms"]
    return (
        Path(str(r["artifact"])).stem,
        str(r.get("format", Path(str(r["artifact"])).suffix.lstrip(".") or "keras")),
        str(r.get("precision", "?")),
        str(r["runtime"]),
        int(r.get("threads", lat.get("threads", 1))),
    )


def _index(path: str, data: dict, notes: list[str]) -> dict[Key, dict]:
    out: dict[Key, dict] = {}
    for r in data["results"]:
        k = _key(r)
        if k in out:
            notes.append(f"{path}: {_key_str(k)} appears more than once; the first result is used.")
            continue
        out[k] = r
    return out


def _raw(r: dict) -> np.ndarray:
    raw = np.asarray(r["latency_ms"].get("raw") or [], dtype=np.float64)
    return raw[np.isfinite(raw)]


def _boot_medians(x: np.ndarray, rng: np.random.Generator, resamples: int, chunk: int = 256) -> np.ndarray:
    out = np.empty(resamples)
    n = len(x)
    for s in range(0, resamples, chunk):
        b = min(chunk, resamples - s)
        idx = rng.integers(0, n, size=(b, n))
        out[s : s + b] = np.median(x[idx], axis=1)
    return out


def bootstrap_ratio_ci(base: np.ndarray, cand: np.ndarray, resamples: int = DEFAULT_RESAMPLES,
                       confidence: float = 0.95, seed: int = DEFAULT_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of median(cand) / median(base), each resampled on its own."""
    rng = np.random.default_rng(seed)
    mb = _boot_medians(np.asarray(base, np.float64), rng, resamples)
    mc = _boot_medians(np.asarray(cand, np.float64), rng, resamples)
    ratios = mc / mb
    alpha = (1.0 - confidence) / 2
    lo, hi = np.quantile(ratios, [alpha, 1 - alpha])
    return float(lo), float(hi)


def compare(paths: list[str | Path], threshold: float = DEFAULT_THRESHOLD, *, resamples: int = DEFAULT_RESAMPLES,
            confidence: float = 0.95, seed: int = DEFAULT_SEED) -> CompareResult:
    """Compare every file in ``paths[1:]`` with ``paths[0]``."""
    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        raise EdgekitError("compare needs at least two bench JSON files: a baseline and a candidate.")
    if not (0 <= threshold < 10):
        raise EdgekitError(f"threshold is a fraction (0.10 = 10%), got {threshold!r}.")
    if not (0 < confidence < 1):
        raise EdgekitError(f"confidence must be between 0 and 1, got {confidence!r}.")
    if resamples < 100:
        raise EdgekitError(f"resamples must be at least 100, got {resamples!r}.")
    datas = [load_bench(p) for p in paths]
    result = CompareResult(
        baseline=str(paths[0]), candidates=[str(p) for p in paths[1:]], threshold=threshold,
        confidence=confidence, resamples=resamples, seed=seed,
        machines={str(p): d.get("machine", {}) for p, d in zip(paths, datas)},
    )
    base = _index(str(paths[0]), datas[0], result.notes)
    for p, d in zip(paths[1:], datas[1:]):
        cand = _index(str(p), d, result.notes)
        for k in base.keys() - cand.keys():
            result.unmatched.append(f"{p}: no result for {_key_str(k)} (in the baseline)")
        for k in cand.keys() - base.keys():
            result.unmatched.append(f"{paths[0]}: no result for {_key_str(k)} (in {p.name})")
        for k in sorted(base.keys() & cand.keys()):
            result.rows.append(_row(k, base[k], cand[k], str(paths[0]), str(p), threshold, resamples, confidence, seed))
    if not result.rows:
        result.notes.append("no result matched between the files (model, format, precision, runtime, threads).")
    m0 = result.machines.get(str(paths[0]), {})
    for p in paths[1:]:
        m = result.machines.get(str(p), {})
        if m0 and m and m0.get("cpu") != m.get("cpu"):
            result.notes.append(f"{p.name} was measured on a different CPU ({m.get('cpu')!r} vs {m0.get('cpu')!r}).")
    return result


def _row(k: Key, rb: dict, rc: dict, fb: str, fc: str, threshold: float, resamples: int, confidence: float,
         seed: int) -> CompareRow:
    xb, xc = _raw(rb), _raw(rc)
    pb = float(np.median(xb)) if len(xb) else float(rb["latency_ms"]["p50"])
    pc = float(np.median(xc)) if len(xc) else float(rc["latency_ms"]["p50"])
    if pb <= 0:
        raise EdgekitError(f"{fb}: {_key_str(k)} has a non-positive p50 ({pb}); re-run the benchmark.")
    ratio = pc / pb
    lo = hi = None
    significant = regression = False
    if len(xb) >= 2 and len(xc) >= 2:
        lo, hi = bootstrap_ratio_ci(xb, xc, resamples, confidence, seed)
        significant = lo > 1.0 or hi < 1.0
        regression = significant and ratio > 1.0 + threshold
        status = "REGRESSION" if regression else ("slower" if significant and ratio > 1 else
                                                  "faster" if significant and ratio < 1 else "same")
    else:
        status = "no raw timings"
    model, fmt, prec, rt, th = k
    return CompareRow(
        model=model, format=fmt, precision=prec, runtime=rt, threads=th, baseline_file=fb, candidate_file=fc,
        baseline_p50=pb, candidate_p50=pc, ratio=ratio, ci_low=lo, ci_high=hi, n_baseline=len(xb),
        n_candidate=len(xc), significant=significant, regression=regression, status=status,
    )


def has_regression(result: CompareResult) -> bool:
    """True when any row is a significant slowdown beyond the threshold (the CLI exits 1)."""
    return any(r.regression for r in result.rows)


# ---------------------------------------------------------------------------------------------
# Rendering


def _ms(v: float) -> str:
    return f"{v:.4g}"


def _ci(r: CompareRow) -> str:
    return "-" if r.ci_low is None else f"{r.ci_low:.3f}–{r.ci_high:.3f}"


def _title(result: CompareResult) -> str:
    return (f"baseline {Path(result.baseline).name}; ratio = candidate p50 / baseline p50; "
            f"{result.confidence:.0%} bootstrap CI ({result.resamples} resamples); "
            f"regression: significant and > {1 + result.threshold:.2f}x")


def rich_table(result: CompareResult):
    """A Rich table, one row per (model, format, precision, runtime, threads) and candidate file."""
    from rich.table import Table

    multi = len(result.candidates) > 1
    t = Table(title="edgekit compare", caption=_title(result), show_lines=False)
    for col, just in [("model", "left"), ("format", "left"), ("runtime", "left"), ("thr", "right")]:
        t.add_column(col, justify=just, overflow="fold")  # file names fold, never end in "…"
    if multi:
        t.add_column("candidate", overflow="fold")
    for col in ("base p50 ms", "cand p50 ms", "ratio", "CI", "status"):
        t.add_column(col, justify="right" if col != "status" else "left")
    style = {"REGRESSION": "bold red", "slower": "yellow", "faster": "green", "same": "", "no raw timings": "dim"}
    for r in result.rows:
        cells = [r.model, f"{r.format}/{r.precision}", r.runtime, str(r.threads)]
        if multi:
            cells.append(Path(r.candidate_file).name)
        cells += [_ms(r.baseline_p50), _ms(r.candidate_p50), f"{r.ratio:.3f}x", _ci(r), r.status]
        t.add_row(*cells, style=style.get(r.status, ""))
    return t


def to_markdown(result: CompareResult) -> str:
    multi = len(result.candidates) > 1
    head = ["model", "format", "runtime", "threads"] + (["candidate"] if multi else []) + [
        "baseline p50 (ms)", "candidate p50 (ms)", "ratio", f"{result.confidence:.0%} CI", "status"]
    align = ["---", "---", "---", "---:"] + (["---"] if multi else []) + ["---:"] * 4 + ["---"]
    lines = ["# edgekit compare", "", _title(result) + ".", "", "| " + " | ".join(head) + " |",
             "|" + "|".join(align) + "|"]
    for r in result.rows:
        cells = [r.model, f"{r.format}/{r.precision}", r.runtime, str(r.threads)]
        if multi:
            cells.append(Path(r.candidate_file).name)
        status = f"**{r.status}**" if r.regression else r.status
        cells += [_ms(r.baseline_p50), _ms(r.candidate_p50), f"{r.ratio:.3f}×", _ci(r), status]
        lines.append("| " + " | ".join(cells) + " |")
    if result.unmatched or result.notes:
        lines.append("")
        lines += [f"- {u}" for u in result.unmatched]
        lines += [f"- {n}" for n in result.notes]
    verdict = "regression found" if has_regression(result) else "no significant regression"
    lines += ["", f"Verdict: {verdict}.", ""]
    return "\n".join(lines)
