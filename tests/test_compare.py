"""`edgekit compare` on real timings: identical runs pass, a 1.5x slower run and XNNPACK off are flagged."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from _tiny_int8 import digits, digits_models

from edgekit.bench.compare import compare, has_regression, load_bench, rich_table, to_markdown
from edgekit.errors import EdgekitError


def _measure(path, xnnpack_flags: tuple[bool, ...], runs: int = 300) -> list[list[float]]:
    """Raw single-invoke timings (ms) for one LiteRT runner per flag, measured interleaved in
    blocks of 25 so that load from other processes on this shared machine hits every run alike."""
    from edgekit.runtime.litert import LiteRTRunner

    runners = [LiteRTRunner(path, threads=1, xnnpack=f) for f in xnnpack_flags]
    raws: list[list[float]] = [[] for _ in runners]
    for r in runners:
        r.prepare(digits()[2][:1])
        for _ in range(30):
            r.invoke_once()
    for _ in range(runs // 25):
        for r, raw in zip(runners, raws):
            for _ in range(25):
                t0 = time.perf_counter_ns()
                r.invoke_once()
                raw.append((time.perf_counter_ns() - t0) / 1e6)
    return raws


def _bench_json(path, artifact, raw, runtime="litert", threads=1, precision="int8"):
    a = np.asarray(raw)
    lat = {"runtime": runtime, "threads": threads, "init": 1.0, "first": float(a[0]), "mean": float(a.mean()),
           "p50": float(np.median(a)), "p90": float(np.percentile(a, 90)), "p99": float(np.percentile(a, 99)),
           "std": float(a.std(ddof=1)), "runs": len(a), "raw": [float(v) for v in a]}
    doc = {"machine": {"cpu": "test-cpu", "cores": 2},
           "results": [{"artifact": str(artifact), "format": "tflite", "precision": precision, "runtime": runtime,
                        "threads": threads, "runs": len(a), "latency_ms": lat}]}
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    int8, _ = digits_models()
    a, b, off = _measure(int8, (True, True, False))
    return {
        "a": _bench_json(d / "a.json", int8, a),
        "b": _bench_json(d / "b.json", int8, b),
        "slow": _bench_json(d / "slow.json", int8, [v * 1.5 for v in a]),
        "off": _bench_json(d / "off.json", int8, off),
        "dir": d,
    }


def test_same_data_passes(runs):
    res = compare([runs["a"], runs["a"]])
    assert not has_regression(res)
    (row,) = res.rows
    assert row.ratio == 1.0 and row.status == "same" and not row.significant
    assert row.ci_low <= 1.0 <= row.ci_high
    assert row.model == "digits_int8" and row.runtime == "litert" and row.n_baseline == 300


def test_two_real_runs_of_the_same_model_pass(runs):
    res = compare([runs["a"], runs["b"]])
    assert not has_regression(res), to_markdown(res)


def test_synthetic_1_5x_slower_is_a_regression(runs):
    res = compare([runs["a"], runs["slow"]], threshold=0.10)
    assert has_regression(res)
    (row,) = res.rows
    assert row.ratio == pytest.approx(1.5, rel=1e-9)
    assert row.significant and row.ci_low > 1.0 and row.ci_low <= 1.5 <= row.ci_high
    assert row.status == "REGRESSION"
    # The same change under a 60% threshold is significant but not a regression.
    assert not has_regression(compare([runs["a"], runs["slow"]], threshold=0.60))
    # And the other way round it is a significant improvement.
    back = compare([runs["slow"], runs["a"]])
    assert not has_regression(back) and back.rows[0].status == "faster"


def test_xnnpack_off_is_flagged(runs):
    res = compare([runs["a"], runs["off"]])
    row = res.rows[0]
    # On this machine XNNPACK off runs the tiny int8 net ~2.8x slower (measured while writing this).
    assert has_regression(res), f"ratio {row.ratio:.3f} CI {row.ci_low:.3f}-{row.ci_high:.3f}"


def test_bootstrap_is_deterministic(runs):
    r1 = compare([runs["a"], runs["b"]]).rows[0]
    r2 = compare([runs["a"], runs["b"]]).rows[0]
    assert (r1.ci_low, r1.ci_high) == (r2.ci_low, r2.ci_high)


def test_renderers_and_many_files(runs):
    res = compare([runs["a"], runs["b"], runs["slow"]])
    assert len(res.rows) == 2 and has_regression(res)
    md = to_markdown(res)
    assert "| digits_int8 |" in md and "**REGRESSION**" in md and "slow.json" in md
    assert "Verdict: regression found." in md
    from rich.console import Console

    con = Console(record=True, width=200)
    con.print(rich_table(res))
    text = con.export_text()
    assert "REGRESSION" in text and "digits_int8" in text and "1.500x" in text


def test_unmatched_rows_and_bad_files(runs, tmp_path):
    other = _bench_json(tmp_path / "t2.json", runs["a"].with_name("digits_int8.tflite"),
                        json.loads(runs["a"].read_text())["results"][0]["latency_ms"]["raw"], threads=2)
    res = compare([runs["a"], other])
    assert res.rows == [] and len(res.unmatched) == 2 and not has_regression(res)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(EdgekitError, match="is not JSON"):
        compare([runs["a"], bad])
    bad.write_text(json.dumps({"results": [{"artifact": "x.tflite"}]}))
    with pytest.raises(EdgekitError, match="lacks runtime, latency_ms"):
        load_bench(bad)
    with pytest.raises(EdgekitError, match="at least two"):
        compare([runs["a"]])
    with pytest.raises(EdgekitError, match="no such file"):
        compare([runs["a"], tmp_path / "missing.json"])
