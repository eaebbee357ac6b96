"""``edgekit compare A.json B.json [...]``: latency changes with a bootstrap confidence interval.

The first file is the baseline; every other file is compared with it. Results are matched on the
fields named by ``match`` (default ``name+format+precision+runtime+threads``, where ``name`` is the
artifact's file stem); ``--match format+precision+runtime+threads`` compares a renamed file on
purpose. For each match::

    ratio = candidate p50 / baseline p50            (> 1: slower)
    CI    = 95% bootstrap interval of that ratio of medians, resampling each file's raw timings
    significant  = the CI excludes 1.0
    regression   = significant and ratio > 1 + threshold

:func:`has_regression` is what the CLI's exit code follows, so ``compare`` can gate CI; and
:func:`gate_problems` lists why a comparison checked nothing (no row matched, a row without raw
timings), which the CLI turns into a non-zero exit too: a gate that compared nothing must not pass.
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
MATCH_FIELDS = ("name", "format", "precision", "runtime", "threads")
DEFAULT_MATCH = "+".join(MATCH_FIELDS)


class CompareRow(BaseModel):
    model: str
    candidate_model: str = ""  # the candidate's artifact stem, when --match leaves the name out
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
    match: str = DEFAULT_MATCH
    rows: list[CompareRow] = Field(default_factory=list)
    unmatched: list[str] = Field(default_factory=list)  # "file: key" present on one side only
    machines: dict[str, dict] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    # when no row paired: the --match with the most fields that pairs a row in every candidate, if any
    suggested_match: str | None = None


Key = tuple[str, str, str, str, int]


def _key_str(k: Key) -> str:
    model, fmt, prec, rt, th = k
    return f"{model} {fmt}/{prec} {rt} x{th}"


def parse_match(text: str) -> tuple[str, ...]:
    """``"format+precision+runtime+threads"`` to its fields, checked against :data:`MATCH_FIELDS`."""
    fields = tuple(f.strip() for f in str(text).replace(",", "+").split("+") if f.strip())
    bad = [f for f in fields if f not in MATCH_FIELDS]
    if not fields or bad:
        raise EdgekitError(f"--match: unknown field {', '.join(map(repr, bad)) or '(none given)'}; join some of "
                           f"{', '.join(MATCH_FIELDS)} with '+', e.g. --match format+precision+runtime+threads.")
    if len(set(fields)) != len(fields):
        raise EdgekitError(f"--match names a field twice: {text!r}.")
    return fields


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


def _row_key(r: dict) -> Key:
    lat = r["latency_ms"]
    return (
        Path(str(r["artifact"])).stem,
        str(r.get("format", Path(str(r["artifact"])).suffix.lstrip(".") or "keras")),
        str(r.get("precision", "?")),
        str(r["runtime"]),
        int(r.get("threads", lat.get("threads", 1))),
    )


def _match_key(r: dict, fields: tuple[str, ...]) -> tuple:
    full = dict(zip(MATCH_FIELDS, _row_key(r)))
    return tuple(full[f] for f in fields)


def _index(path: str, data: dict, fields: tuple[str, ...]) -> dict[tuple, dict]:
    """Results keyed by the --match fields; two results with one key make the match ambiguous."""
    out: dict[tuple, dict] = {}
    for r in data["results"]:
        k = _match_key(r, fields)
        if k in out:
            raise EdgekitError(f"{path}: two results match on {'+'.join(fields)} = {_mk_str(k, fields)} "
                               f"({_key_str(_row_key(out[k]))} and {_key_str(_row_key(r))}); add fields to --match.")
        out[k] = r
    return out


def _mk_str(k: tuple, fields: tuple[str, ...]) -> str:
    return " ".join(f"{f}={v}" for f, v in zip(fields, k))


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
            confidence: float = 0.95, seed: int = DEFAULT_SEED, match: str = DEFAULT_MATCH) -> CompareResult:
    """Compare every file in ``paths[1:]`` with ``paths[0]``, rows matched on the ``match`` fields."""
    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        raise EdgekitError("compare needs at least two bench JSON files: a baseline and a candidate.")
    if not (0 <= threshold < 10):
        raise EdgekitError(f"threshold is a fraction (0.10 = 10%), got {threshold!r}.")
    if not (0 < confidence < 1):
        raise EdgekitError(f"confidence must be between 0 and 1, got {confidence!r}.")
    if resamples < 100:
        raise EdgekitError(f"resamples must be at least 100, got {resamples!r}.")
    parse_match(match)  # a bad --match is reported before any file is read
    return compare_docs([(p, load_bench(p)) for p in paths], threshold, resamples=resamples, confidence=confidence,
                        seed=seed, match=match)


def compare_docs(docs: list[tuple[Path, dict]], threshold: float = DEFAULT_THRESHOLD, *,
                 resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95, seed: int = DEFAULT_SEED,
                 match: str = DEFAULT_MATCH) -> CompareResult:
    """:func:`compare` on bench documents already in memory (``(name, doc)`` pairs, baseline first)."""
    fields = parse_match(match)
    paths, datas = [Path(p) for p, _ in docs], [d for _, d in docs]
    result = CompareResult(
        baseline=str(paths[0]), candidates=[str(p) for p in paths[1:]], threshold=threshold,
        confidence=confidence, resamples=resamples, seed=seed, match="+".join(fields),
        machines={str(p): d.get("machine", {}) for p, d in zip(paths, datas)},
    )
    base = _index(str(paths[0]), datas[0], fields)
    for p, d in zip(paths[1:], datas[1:]):
        cand = _index(str(p), d, fields)
        for k in sorted(base.keys() - cand.keys(), key=str):
            result.unmatched.append(f"only in {paths[0].name}: {_key_str(_row_key(base[k]))}")
        for k in sorted(cand.keys() - base.keys(), key=str):
            result.unmatched.append(f"only in {p.name}: {_key_str(_row_key(cand[k]))}")
        for k in sorted(base.keys() & cand.keys(), key=str):
            result.rows.append(_row(_row_key(base[k]), base[k], cand[k], str(paths[0]), str(p), threshold, resamples,
                                    confidence, seed))
    for p, d in zip(paths[1:], datas[1:]):
        result.notes += provenance_notes(paths[0], datas[0], p, d)
    if not result.rows:
        result.suggested_match = _pairing_match(datas, fields)
    return result


def _pairing_match(datas: list[dict], tried: tuple[str, ...]) -> str | None:
    """The --match (fewest fields dropped, in MATCH_FIELDS order) that pairs at least one row of the
    baseline with each candidate, unambiguously; None when no choice pairs anything."""
    from itertools import combinations

    for size in range(len(MATCH_FIELDS) - 1, 0, -1):
        for fields in combinations(MATCH_FIELDS, size):
            if fields == tried:
                continue
            try:
                base = _index("", datas[0], fields)
                if all(base.keys() & _index("", d, fields).keys() for d in datas[1:]):
                    return "+".join(fields)
            except EdgekitError:  # ambiguous with these fields
                continue
    return None


# machine fields whose difference makes timings incomparable, and the library versions that matter
_MACHINE_FIELDS = ("cpu", "cores", "machine", "os", "blas")
_RUNTIME_LIBS = ("ai-edge-litert", "onnxruntime", "tflite-micro", "numpy", "tensorflow")


def provenance_notes(pa: Path, a: dict, pb: Path, b: dict) -> list[str]:
    """Say when two bench files come from different machines, library versions or runs.

    ``edgekit bench --json`` records ``machine`` and a ``run`` id; two runs of the same file on a
    busy machine can differ by more than a real change, so a separate-run comparison names the
    noise-robust alternative (``edgekit bench A B --interleave``)."""
    notes = []
    if pa.resolve() == pb.resolve():
        return notes  # a file against itself
    ma, mb = a.get("machine") or {}, b.get("machine") or {}
    diff = [f"{k} {ma.get(k)!r} vs {mb.get(k)!r}" for k in _MACHINE_FIELDS
            if k in ma and k in mb and ma.get(k) != mb.get(k)]
    va, vb = ma.get("versions") or {}, mb.get("versions") or {}
    diff += [f"{k} {va.get(k)} vs {vb.get(k)}" for k in _RUNTIME_LIBS if k in va and k in vb and va[k] != vb[k]]
    if diff:
        notes.append(f"{pa.name} and {pb.name} come from different machines or library versions: "
                     + "; ".join(diff) + ".")
    elif not ma or not mb:
        notes.append(f"{pa.name if not ma else pb.name} records no machine; cannot tell if both ran on one machine.")
    ra, rb = (a.get("run") or {}).get("id"), (b.get("run") or {}).get("id")
    if ra is None or rb is None or ra != rb:
        when = ""
        da, db = (a.get("run") or {}).get("date"), (b.get("run") or {}).get("date")
        if da and db:
            when = f" ({da} and {db})"
        notes.append(f"{pa.name} and {pb.name} come from different runs{when}: load on a shared machine moves "
                     "timings between runs; `edgekit bench A B --interleave` times both in one run.")
    return notes


def gate_problems(result: CompareResult) -> list[str]:
    """Why this comparison cannot vouch for anything: no row compared, or rows without raw timings."""
    problems = []
    if not result.rows:
        only = f" ({len(result.unmatched)} row(s) in one file only)" if result.unmatched else ""
        hint = (f"--match {result.suggested_match} would pair them" if result.suggested_match else
                "no --match pairs them: the files share no format, precision, runtime or thread count")
        problems.append(f"no row could be compared on --match {result.match}{only}; {hint}.")
    no_raw = [r for r in result.rows if r.status == "no raw timings"]
    if no_raw:
        which = ", ".join(f"{r.model} x{r.threads}" for r in no_raw[:3]) + (" ..." if len(no_raw) > 3 else "")
        problems.append(f"{len(no_raw)} compared row(s) lack raw timings ({which}); re-run `edgekit bench --json` "
                        "to record them (a p50 alone gives no confidence interval).")
    return problems


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
    cand_model = _row_key(rc)[0]
    return CompareRow(
        model=model, candidate_model=cand_model if cand_model != model else "", format=fmt, precision=prec, runtime=rt, threads=th, baseline_file=fb, candidate_file=fc,
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


def _model(r: CompareRow) -> str:
    return f"{r.model} → {r.candidate_model}" if r.candidate_model else r.model


def _title(result: CompareResult) -> str:
    return (f"baseline {Path(result.baseline).name}; matched on {result.match}; ratio = candidate p50 / baseline p50; "
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
        cells = [_model(r), f"{r.format}/{r.precision}", r.runtime, str(r.threads)]
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
        cells = [_model(r), f"{r.format}/{r.precision}", r.runtime, str(r.threads)]
        if multi:
            cells.append(Path(r.candidate_file).name)
        status = f"**{r.status}**" if r.regression else r.status
        cells += [_ms(r.baseline_p50), _ms(r.candidate_p50), f"{r.ratio:.3f}×", _ci(r), status]
        lines.append("| " + " | ".join(cells) + " |")
    if result.unmatched or result.notes:
        lines.append("")
        lines += [f"- {u}" for u in result.unmatched]
        lines += [f"- {n}" for n in result.notes]
    problems = gate_problems(result)
    lines += [f"- **not checked:** {p}" for p in problems]
    verdict = ("regression found" if has_regression(result) else "nothing compared" if problems
               else "no significant regression")
    lines += ["", f"Verdict: {verdict}.", ""]
    return "\n".join(lines)
