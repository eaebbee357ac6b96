"""`edgekit compare` on real timings: identical runs pass, a 1.5x slower run and XNNPACK off are flagged."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from _tiny_int8 import digits, digits_models

from edgekit.benchmarking.compare import compare, gate_problems, has_regression, load_bench, rich_table, to_markdown
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
    assert res.rows == [] and not has_regression(res)
    assert sorted(res.unmatched) == ["only in a.json: digits_int8 tflite/int8 litert x1",
                                     "only in t2.json: digits_int8 tflite/int8 litert x2"]
    assert gate_problems(res) and "no row could be compared" in gate_problems(res)[0]
    # the hint names a --match that does pair the rows (never one that would still pair nothing)
    assert res.suggested_match == "name+format+precision+runtime" and res.suggested_match in gate_problems(res)[0]
    assert len(compare([runs["a"], other], match=res.suggested_match).rows) == 1
    with pytest.raises(EdgekitError, match="unknown field 'thread'"):
        compare([runs["a"], other], match="format+thread")
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


def _one_line(res):
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


def _raw(path):
    return json.loads(path.read_text())["results"][0]["latency_ms"]["raw"]


def test_the_gate_fails_when_it_compared_nothing(cli, runs, tmp_path):
    """Issue 13's done-when: no shared row, only the thread count differs, or a row without raw
    timings -> non-zero with one line; identical runs exit 0; XNNPACK off vs on exits 1."""
    a, raw = runs["a"], _raw(runs["a"])
    renamed = _bench_json(tmp_path / "renamed.json", a.with_name("candidate_int8.tflite"), raw)
    threads2 = _bench_json(tmp_path / "threads2.json", a.with_name("digits_int8.tflite"), raw, threads=2)
    no_raw = json.loads(a.read_text())
    del no_raw["results"][0]["latency_ms"]["raw"]
    (tmp_path / "noraw.json").write_text(json.dumps(no_raw))

    res = cli("compare", a, renamed)
    assert res.returncode == 1 and "no row could be compared" in _one_line(res)
    assert "only in renamed.json: candidate_int8" in res.stdout
    res = cli("compare", a, renamed, "--match", "format+precision+runtime+threads")  # renamed on purpose
    assert res.returncode == 0, res.stderr
    assert "digits_int8 → candidate_int8" in res.stdout and "same" in res.stdout
    res = cli("compare", a, threads2)
    assert res.returncode == 1 and "no row could be compared" in _one_line(res)
    res = cli("compare", a, tmp_path / "noraw.json")
    assert res.returncode == 1 and "lack raw timings" in _one_line(res)
    res = cli("compare", a, a)
    assert res.returncode == 0, res.stderr
    assert "different runs" not in res.stdout  # one file against itself: one run
    res = cli("compare", a, runs["off"], "--markdown", tmp_path / "off.md")
    assert res.returncode == 1 and "regression" in res.stderr
    assert "different runs" in res.stdout  # the fixture files carry no run id


def test_different_machines_are_named(runs, tmp_path):
    doc = json.loads(runs["b"].read_text())
    doc["machine"] = {"cpu": "other-cpu", "cores": 8}
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc))
    notes = " ".join(compare([runs["a"], other]).notes)
    assert "different machines" in notes and "'other-cpu'" in notes and "different runs" in notes


def test_bench_interleave_times_both_files_in_one_run(cli, tmp_path):
    import shutil

    int8, _ = digits_models()
    copy = tmp_path / "copy_int8.tflite"
    shutil.copyfile(int8, copy)
    out = tmp_path / "inter.json"
    res = cli("bench", int8, copy, "--interleave", "--runs", "200", "--rounds", "10", "--json", out,
              "--no-roofline", env={"OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    from conftest import check_record_file
    from edgekit.records import BenchFile

    check_record_file(out, BenchFile)
    assert doc["run"]["interleaved"] is True and len(doc["results"]) == 2
    assert all(len(r["latency_ms"]["raw"]) == 200 and r["interleaved"]["rounds"] == 10 for r in doc["results"])
    assert "digits_int8 → copy_int8" in res.stdout
    res = cli("bench", int8, "--interleave")
    assert res.returncode == 1 and "at least two files" in _one_line(res)


def test_an_ambiguous_match_is_refused(runs, tmp_path):
    doc = json.loads(runs["a"].read_text())
    two = dict(doc["results"][0], threads=2)
    doc["results"].append(two)
    both = tmp_path / "both.json"
    both.write_text(json.dumps(doc))
    assert len(compare([both, both]).rows) == 2  # the default match tells the thread counts apart
    with pytest.raises(EdgekitError, match="two results match on name .*add fields to --match"):
        compare([both, both], match="name")
