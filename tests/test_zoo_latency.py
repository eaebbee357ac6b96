"""Issue 15: the zoo latency table covers every registry model, and `edgekit models --latency` shows it."""

from __future__ import annotations

import json


def test_models_latency_shows_every_registry_model_from_the_zoo_table(cli, repo_root):
    from edgekit.catalog import list_catalog

    doc = json.loads((repo_root / "benchmarks" / "results" / "zoo_latency.json").read_text())
    rows = {r["model"]: r for r in doc["rows"]}
    assert sorted(rows) == sorted(list_catalog()), "rerun benchmarks/zoo_latency.py for the missing models"
    assert not [m for m, r in rows.items() if r.get("error")], "a model failed as a whole in the zoo table"
    res = cli("models", "--latency", env={"COLUMNS": "400"})
    assert res.returncode == 0, res.stderr[-2000:]
    lines = {ln.split("│")[1].strip(): ln for ln in res.stdout.splitlines() if ln.count("│") > 5}
    for name, r in rows.items():
        cells = [c.strip() for c in lines[name].split("│")]
        for key in ("tflite_fp32_ms", "tflite_int8_ms", "onnx_fp32_ms"):
            assert (f"{r[key]:.3f}" if r.get(key) is not None else "—") in cells, (name, key, cells)
        assert ("TFLM failed" in cells) == bool(r.get("tflm_error") and not r.get("tflm_arena_bytes")), (name, cells)
    assert f"({len(rows)} models measured" in res.stdout
