"""The full benchmark harness on real small models: thread lists, peak memory, per-op profiles,
the sgemm ceiling and the roofline column, and the `edgekit bench` flags that expose them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgekit.errors import EdgekitError


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A conv / depthwise / 1x1 conv / dense net at 48x48x3 (~6 M MACs: invokes long enough that
    per-invoke overhead is small), exported with edgekit.convert.export to fp32 and int8 .tflite and .onnx."""
    from edgekit._tf import keras
    from edgekit.convert import export
    from edgekit.data import load_dataset
    from edgekit.models import count_macs

    keras.utils.set_random_seed(0)
    L = keras.layers
    m = keras.Sequential([
        L.Input((48, 48, 3)),
        L.Conv2D(24, 3, padding="same", activation="relu"),
        L.DepthwiseConv2D(3, padding="same", activation="relu6"),
        L.Conv2D(48, 1, activation="relu"),
        L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6"),
        L.Conv2D(64, 1, activation="relu"),
        L.GlobalAveragePooling2D(),
        L.Dense(10),
        L.Softmax(),
    ], name="small")
    ds = load_dataset("digits", input_shape=(48, 48, 3), seed=0)
    out = tmp_path_factory.mktemp("harness")
    arts = {(fmt, prec): export(m, to=fmt, precision=prec, data=ds, out=out, name="small")
            for fmt, prec in (("tflite", "fp32"), ("tflite", "int8"), ("onnx", "fp32"))}
    return {"paths": {k: a.path for k, a in arts.items()}, "macs": count_macs(m)}


def test_macs_counted_from_the_graph_match_the_keras_count(small):
    from edgekit.benchmarking.ceiling import onnx_macs, tflite_macs

    assert small["macs"] > 5_000_000
    assert tflite_macs(small["paths"][("tflite", "fp32")]) == small["macs"]
    assert tflite_macs(small["paths"][("tflite", "int8")]) == small["macs"]
    assert onnx_macs(small["paths"][("onnx", "fp32")]) == small["macs"]


def test_a_row_per_thread_count(small):
    from edgekit.benchmarking.harness import bench_threads, parse_threads

    assert parse_threads("1,2") == [1, 2]
    assert parse_threads("1-3") == [1, 2, 3]
    assert parse_threads("2, 1,2") == [1, 2]
    for bad in ("0", "a", "2-1", "", "1,-2"):
        with pytest.raises(EdgekitError, match="--threads"):
            parse_threads(bad)
    rows = bench_threads(small["paths"][("tflite", "fp32")], threads="1,2", runs=15, warmup=2, memory="off",
                         roofline=False)
    assert [r["threads"] for r in rows] == [1, 2]
    for r in rows:
        lat = r["latency_ms"]
        assert lat["threads"] == r["threads"] and len(lat["raw"]) == 15 and lat["p50"] > 0
        assert set(r.model_dump()) >= {"artifact", "format", "precision", "runtime", "threads", "runs", "latency_ms"}


@pytest.mark.parametrize("key", [("tflite", "fp32"), ("onnx", "fp32")])
def test_peak_memory_is_measured(small, key):
    from edgekit.benchmarking.harness import bench_row

    r = bench_row(small["paths"][key], runs=10, warmup=1, roofline=False)
    mem = r["memory_mb"]
    assert mem["peak_delta"] > 0, mem
    assert mem["peak"] >= mem["rss_after_load"] >= mem["rss_before"] > 0, mem
    assert "child process" in mem["method"] and "VmHWM" in mem["method"]
    r = bench_row(small["paths"][key], runs=10, warmup=1, roofline=False, memory="inprocess")
    assert r["memory_mb"]["peak"] > 0 and r["memory_mb"]["peak_delta"] >= 0
    with pytest.raises(EdgekitError, match="memory"):
        bench_row(small["paths"][key], runs=2, warmup=0, memory="rss")


@pytest.mark.parametrize("key", [("tflite", "fp32"), ("tflite", "int8"), ("onnx", "fp32")])
def test_profile_rows_add_up_to_the_whole_model(small, key):
    from edgekit.benchmarking.profile import by_op_type, profile

    p = profile(small["paths"][key], runs=30, warmup=3)
    assert p["rows"] and all(r["ms"] >= 0 for r in p["rows"])
    assert p["sum_ms"] == pytest.approx(sum(r["ms"] for r in p["rows"]), rel=1e-3)
    # Isolated ops pay one interpreter call each; onnxruntime's session adds its own overhead.
    assert 0.5 <= p["sum_ms"] / p["total_ms"] <= 1.6, (p["sum_ms"], p["total_ms"])
    ops = {t["op"] for t in by_op_type(p)}
    if key[0] == "tflite":
        assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"} <= ops
        assert len(p["rows"]) >= 7
        assert sum(r["macs"] for r in p["rows"]) == small["macs"]
        assert "isolation" in p["method"]
    else:
        assert "Conv" in ops and "profiler" in p["method"]
    assert sum(t["share"] for t in by_op_type(p)) == pytest.approx(1.0, abs=0.01)


def test_ceiling_and_roofline_fraction(small):
    from edgekit.benchmarking.ceiling import matmul_ceiling, roofline
    from edgekit.benchmarking.harness import bench_row

    c = matmul_ceiling()
    assert c.gmacs_per_s > 0 and c.median_ms > 0 and c.n == 2048 and c.threads == 1
    assert matmul_ceiling() is c  # measured once per process
    r = bench_row(small["paths"][("tflite", "fp32")], runs=30, warmup=3, memory="off")
    roof = r["roofline"]
    assert roof["macs"] == small["macs"]
    assert 0 < roof["fraction"] < 1.5, roof
    assert roof["gmacs_per_s"] == pytest.approx(small["macs"] / r["latency_ms"]["p50"] / 1e6, rel=1e-3)
    assert roof["ceiling_gmacs_per_s"] == pytest.approx(c.gmacs_per_s, rel=1e-3)
    two = roofline(small["macs"], r["latency_ms"]["p50"], c, threads=2)
    assert two["fraction"] == pytest.approx(roof["fraction"] / 2, rel=1e-3)
    assert roofline(None, 1.0, c) is None and roofline(10, 0, c) is None


def test_int8_rows_are_measured_against_the_int8_ceiling(small):
    from edgekit.benchmarking.ceiling import ceiling_for, int8_matmul_ceiling, matmul_ceiling
    from edgekit.benchmarking.harness import bench_row

    c8 = int8_matmul_ceiling()
    assert c8.precision == "int8" and c8.gmacs_per_s > 0 and "MatMulInteger" in c8.method
    assert ceiling_for("int8") is c8 and ceiling_for("fp32") is matmul_ceiling() and ceiling_for("fp16") is matmul_ceiling()
    r = bench_row(small["paths"][("tflite", "int8")], runs=20, warmup=3, memory="off")
    roof = r["roofline"]
    assert r["precision"] == "int8" and roof["ceiling_precision"] == "int8"
    assert roof["ceiling_gmacs_per_s"] == pytest.approx(c8.gmacs_per_s, rel=1e-3)
    assert roof["fraction"] == pytest.approx(roof["gmacs_per_s"] / c8.gmacs_per_s, rel=1e-3)


def test_profile_and_ceiling_do_not_import_tensorflow(small):
    code = (
        "import sys, json; from edgekit.benchmarking.harness import bench_row;"
        f"r = bench_row({str(small['paths'][('tflite', 'int8')])!r}, runs=5, warmup=1, profile=True, profile_runs=3);"
        "assert r['roofline']['fraction'] > 0 and r['profile']['rows'];"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras'))))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout.strip().splitlines()[-1]) == []


def test_bench_command_threads_profile_json(cli, small, tmp_path):
    f = small["paths"][("tflite", "int8")]
    out = tmp_path / "b.json"
    res = cli("bench", f, "--threads", "1,2", "--runs", "10", "--warmup", "1", "--profile", "--json", out)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "peak MB" in res.stdout and "of ceiling" in res.stdout and "CONV_2D" in res.stdout
    doc = json.loads(out.read_text())
    assert doc["ceiling"]["gmacs_per_s"] > 0 and doc["machine"]["cores"] >= 1 and "blas" in doc["machine"]
    assert doc["ceiling_int8"]["precision"] == "int8" and "int8 MatMulInteger" in res.stdout
    assert [r["threads"] for r in doc["results"]] == [1, 2]
    for r in doc["results"]:
        assert len(r["latency_ms"]["raw"]) == 10
        assert r["memory_mb"]["peak_delta"] > 0 and r["roofline"]["fraction"] > 0 and r["profile"]["rows"]
    res = cli("bench", f, "--threads", "1,x")
    assert res.returncode == 1 and "--threads" in res.stderr


def test_raw_timings_are_kept_in_the_json_rows(small):
    from edgekit.benchmarking.harness import bench_row

    r = bench_row(small["paths"][("onnx", "fp32")], runs=12, warmup=1, memory="off")
    raw = np.array(r["latency_ms"]["raw"])
    assert len(raw) == 12 and r["latency_ms"]["p50"] == pytest.approx(np.percentile(raw, 50), rel=1e-3)
