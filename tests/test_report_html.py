"""report.html from a small real run, rendered by headless Chromium and checked for its content.

Chromium comes from Debian's packages; when it is missing the session fixture installs it with
``apt-get update && apt-get install -y chromium`` (a few minutes, once). An install that fails
fails the tests: nothing here is skipped.
"""

from __future__ import annotations

import html as _html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        res = subprocess.run("apt-get update && apt-get install -y chromium", shell=True, capture_output=True,
                             text=True, env=env, timeout=1800)
        assert res.returncode == 0, f"installing chromium failed:\n{res.stdout[-1500:]}\n{res.stderr[-1500:]}"
        exe = shutil.which("chromium")
    assert exe, "chromium is not on PATH after apt-get install -y chromium"
    return exe


def _chromium(exe: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / f"chromium-profile-{len(list(tmp.glob('chromium-profile-*')))}"
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=180)


def dump_dom(exe: str, page: Path, tmp: Path) -> str:
    res = _chromium(exe, tmp, "--dump-dom", page.resolve().as_uri())
    assert res.returncode == 0 and "<html" in res.stdout, res.stderr[-2000:]
    return res.stdout


@pytest.fixture(scope="module")
def run_report(demo_run):
    """A real run, every export and step: the bundle of ``edgekit demo`` (conftest.py's ``demo_run``, made
    once per test run and also checked by test_demo.py), and its report.json read back as the record."""
    from edgekit.records import RunReport

    cwd, res = demo_run
    assert res["returncode"] == 0, res["stderr"][-2000:]
    (out,) = (cwd / "export").iterdir()
    return out, RunReport.model_validate_json((out / "report.json").read_text())


def _text(dom: str) -> str:
    """The DOM's text with tags removed and whitespace collapsed."""
    return re.sub(r"\s+", " ", _html.unescape(re.sub(r"<[^>]+>", " ", dom)))


def test_run_writes_a_self_contained_report_before_the_manifest(run_report):
    from edgekit.report.manifest import check_bundle

    out, report = run_report
    page = out / "report.html"
    assert page.is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert "report.html" in {f["file"] for f in manifest["files"]}
    assert check_bundle(out) == []
    text = page.read_text()
    # self-contained: no scripts, stylesheets or images fetched from anywhere
    assert "<script" not in text and "<link" not in text and "<img" not in text
    assert not re.search(r'(src|href)="(https?:)?//', text)
    # report.json keeps the spine's keys and gains the deploy figures
    saved = json.loads((out / "report.json").read_text())
    assert {"model", "dataset", "training", "bench", "machine", "artifacts", "run_dir"} <= set(saved)
    assert {n["accelerator"] for n in saved["npu"]} == {"ethos-u55-128", "ethos-u65-256"}
    assert "arena_bytes" in saved["mcu"] and (out / "mcu" / "model_data.cc").is_file()
    if not saved["mcu"].get("tflm_error"):  # the Cortex-M estimate for the default board, in json and md
        est = saved["mcu"]["estimate"]
        assert est["target"] == "nucleo-l4r5zi" and est["latency_ms"] > 0 and est["fits"]["arena_bytes"]
        assert est["basis"] == "analytic" and est["expected_error"] > 0 and "±" in est["summary"]
        assert f"Estimated **{est['summary']}** per inference" in (out / "report.md").read_text()
    assert saved["ceiling"]["gmacs_per_s"] > 0


def test_chromium_renders_every_section(chromium, run_report, tmp_path):
    out, report = run_report
    dom = dump_dom(chromium, out / "report.html", tmp_path)
    text = _text(dom)
    assert f"edgekit report: {report['model']['name']}" in text
    # one table row per artifact, with its numbers
    for a in report["artifacts"]:
        name = Path(a["path"]).name
        rows = re.findall(rf'<tr class="artifact" data-file="{re.escape(name)}">(.*?)</tr>', dom, re.S)
        assert len(rows) == 1, name
        cells = _text(rows[0])
        assert f"{a['latency_ms']['p50']:.3f}" in cells, (name, cells)
        assert f"{a['accuracy'] * 100:.1f}%" in cells
        if a["format"] != "keras":
            assert f"{a['parity']['cosine']:.6f}" in cells
            assert f"{a['memory_mb']['peak_delta']:.1f}" in cells
            assert f"{a['roofline']['gmacs_per_s']:.2f}" in cells
        assert len(re.findall(rf'<tr class="latency" data-file="{re.escape(name)}">', dom)) == 1
    assert len(re.findall(r'<tr class="artifact"', dom)) == len(report["artifacts"]) == 4
    # the int8 file on LiteRT without XNNPACK and on TFLM (host): numbers, or the reason it failed
    assert {o["label"] for o in report["runtimes"]} == {"litert (no xnnpack)", "tflm (host)"}
    for o in report["runtimes"]:
        row = re.search(rf'<tr class="runtime-row" data-runtime="{re.escape(o["label"])}">(.*?)</tr>', dom, re.S)
        assert row, o["label"]
        cells = _text(row.group(1))
        assert (f"failed: {o['error']}" in cells) if o.get("error") else (f"{o['latency_ms']['p50']:.3f}" in cells)
    assert not report["runtimes"][0].get("error")  # LiteRT's reference kernels always run
    # four charts, each an inline SVG with its text kept as text
    for chart in ("latency", "accuracy", "size", "profile"):
        m = re.search(rf'<figure class="chart" id="chart-{chart}">(.*?)</figure>', dom, re.S)
        assert m and "<svg" in m.group(1) and "<path" in m.group(1), chart
    assert "Latency per format and runtime" in text and "Accuracy against latency" in text
    # per-op profile of every exported file
    for a in report["artifacts"][1:]:
        assert f"{Path(a['path']).name} · " in text
    assert "CONV_2D" in text and "DEPTHWISE_CONV_2D" in text and "Conv" in text
    # NPU estimates for both accelerators, with numbers
    for n in report["npu"]:
        row = re.search(rf'<tr class="npu" data-accelerator="{n["accelerator"]}">(.*?)</tr>', dom, re.S)
        assert row, n["accelerator"]
        if "error" in n:
            assert "failed:" in row.group(1)
        else:
            assert f"{n['inference_ms']:.4f}" in _text(row.group(1))
            assert f"{n['cycles']:,}" in _text(row.group(1))
    # microcontroller figures, or the reason TFLM failed
    mcu = report["mcu"]
    mcu_text = _text(re.search(r'<section id="mcu">(.*?)</section>', dom, re.S).group(1))
    assert f"{mcu['flash_bytes']:,} B" in mcu_text
    assert ", ".join(mcu["ops"]) in mcu_text
    if mcu.get("tflm_error"):
        assert "TFLM failed:" in mcu_text
    else:
        assert f"{mcu['arena_bytes']:,} B" in mcu_text and f"{mcu['tflm_agreement'] * 100:.1f}%" in mcu_text
        assert f"estimated latency on nucleo-l4r5zi (cortex-m4, 120.0 MHz, cmsis-nn) {mcu['estimate']['summary']}" in mcu_text
    assert report["machine"]["cpu"] in text


def test_failures_are_shown_as_failed_with_the_reason(chromium, run_report, tmp_path):
    """TFLM crashing, vela failing and an export failing each show 'failed: reason' on the page."""
    from edgekit.report.html import write_html

    _, report = run_report
    r = report.model_dump()  # report.json's dict, edited as a user would, then read back by write_html
    r["mcu"].update(arena_bytes=None, tflm_agreement=None, tflm_max_abs_diff=None,
                    tflm_error="model_int8.tflite: TFLM crashed (SIGABRT) while loading the model")
    r["npu"][1] = {"accelerator": "ethos-u65-256", "error": "vela failed for ethos-u65-256 (exit 1): boom"}
    r["artifacts"].append({"path": "model_fp16.tflite", "format": "tflite", "precision": "fp16", "bytes": 0,
                           "sha256": None, "accuracy": None, "parity": None, "latency_ms": None,
                           "error": "converter said no"})
    r["artifacts"][1]["profile"] = {"error": "operator 3 (CUSTOM) cannot run on its own"}
    r["runtimes"][1] = {**r["runtimes"][1], "error": r["mcu"]["tflm_error"]}
    r["runtimes"][1].pop("latency_ms", None)
    page = write_html(tmp_path / "failed", r)
    text = _text(dump_dom(chromium, page, tmp_path))
    assert "TFLM failed: model_int8.tflite: TFLM crashed (SIGABRT)" in text
    assert "tflm (host) failed: model_int8.tflite: TFLM crashed (SIGABRT)" in text
    assert "failed: vela failed for ethos-u65-256 (exit 1): boom" in text
    assert "failed: converter said no" in text
    assert "failed: operator 3 (CUSTOM) cannot run on its own" in text
    # the U55 estimate is still shown
    assert f"{r['npu'][0]['inference_ms']:.4f}" in text


def test_screenshot(chromium, run_report, tmp_path):
    """A PNG to look at (kept under the pytest tmp folder); checks it is a real, tall page."""
    from PIL import Image

    out, _ = run_report
    png = Path(os.environ.get("EDGEKIT_SCREENSHOT", tmp_path / "report.png"))
    res = _chromium(chromium, tmp_path, f"--screenshot={png}", "--window-size=1280,3600", (out / "report.html").resolve().as_uri())
    assert res.returncode == 0 and png.is_file(), res.stderr[-2000:]
    im = Image.open(png).convert("L")
    assert im.size == (1280, 3600)
    # mostly white page with real content drawn on it (text, tables, charts)
    hist = im.histogram()
    dark = sum(hist[:128]) / (im.size[0] * im.size[1])
    assert 0.005 < dark < 0.5, dark


def test_rendering_imports_no_tensorflow(run_report):
    out, _ = run_report
    code = ("import sys, json; from edgekit.report.html import render_html;"
            f"html = render_html(json.load(open({str(out / 'report.json')!r})));"
            "assert '<svg' in html;"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras'))))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout.strip().splitlines()[-1]) == []
