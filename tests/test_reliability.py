"""Reliability: a corpus of malformed inputs across the commands, a killed training run, reproducibility.

Every malformed input must end with a short `error:` line, a non-zero exit, no traceback, within a
bounded time, and leave no file in the output folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

EDGEKIT = [sys.executable, "-m", "edgekit.cli"]
FRACTIONS = np.linspace(0.0, 0.995, 60)[1:]  # 59 truncation points, never the whole file


def _truncations(data: bytes, n: int):
    for f in FRACTIONS[:: max(1, len(FRACTIONS) // n)][:n]:
        yield f"trunc{f:.3f}", data[: int(len(data) * f)]


def _header_damage(data: bytes, span: int):
    """Flip each of the first `span` bytes (identifier, root offset, vtable), one at a time."""
    for i in range(span):
        b = bytearray(data)
        b[i] ^= 0xFF
        yield f"flip{i}", bytes(b)


def _garbage(seed: int, n: int):
    rng = np.random.default_rng(seed)
    for i in range(n):
        yield f"garbage{i}", rng.integers(0, 256, size=int(rng.integers(1, 5000)), dtype=np.uint8).tobytes()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, exports, trained):
    """(name, argv, out_dir) for every malformed case; files are written under a tmp folder."""
    root = tmp_path_factory.mktemp("corpus")
    cases = []

    def add(kind, name, data, suffix, argv_for):
        p = root / kind / f"{name}{suffix}"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
        out = root / "out" / kind / name
        cases.append((f"{kind}/{name}", argv_for(p, out), out))

    bench = lambda p, out: ["bench", p, "--runs", "2", "--warmup", "0", "--json", out / "b.json"]  # noqa: E731
    for prec in ("fp32", "int8"):
        blob = Path(exports[("tflite", prec)].path).read_bytes()
        for name, data in _truncations(blob, 48):
            add(f"tflite_{prec}", name, data, ".tflite", bench)
        for name, data in _header_damage(blob, 8):
            add(f"tflite_{prec}", name, data, ".tflite", bench)
    for name, data in _garbage(1, 10):
        add("tflite_garbage", name, data, ".tflite", bench)
    onnx_blob = Path(exports[("onnx", "fp32")].path).read_bytes()
    for name, data in _truncations(onnx_blob, 40):
        add("onnx", name, data, ".onnx", bench)
    for name, data in _garbage(2, 8):
        add("onnx_garbage", name, data, ".onnx", bench)
    add("wrongtype", "onnx_as_tflite", onnx_blob, ".tflite", bench)
    add("wrongtype", "tflite_as_onnx", blob, ".onnx", bench)
    add("wrongtype", "text", b"hello world\n", ".tflite", bench)
    add("wrongtype", "empty", b"", ".onnx", bench)

    # Model files that need TensorFlow to read: fewer cases, each costs an import.
    export = lambda p, out: ["export", p, "--to", "tflite", "--out", out]  # noqa: E731
    keras_blob = trained.model_path.read_bytes()
    for name, data in _truncations(keras_blob, 6):
        add("keras", name, data, ".keras", export)
    add("keras", "garbage", b"\x00" * 1000, ".keras", export)
    h5 = root / "m.h5"
    trained.model.save(h5)
    for name, data in _truncations(h5.read_bytes(), 4):
        add("h5", name, data, ".h5", export)
    # a .keras archive whose members are damaged
    bad_zip = root / "damaged.keras"
    with zipfile.ZipFile(trained.model_path) as src, zipfile.ZipFile(bad_zip, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, b"{not json" if item.filename.endswith(".json") else src.read(item))
    add("keras", "damaged_members", bad_zip.read_bytes(), ".keras", export)

    # verify with a broken artifact against a good reference
    verify = lambda p, out: ["verify", p, "--reference", trained.model_path]  # noqa: E731
    for name, data in list(_truncations(blob, 4)):
        add("verify", name, data, ".tflite", verify)

    # datasets
    def npz_bytes(**arrays):
        import io

        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    x = np.random.default_rng(0).random((40, 8, 8)).astype(np.float32)
    x_nan, x_inf = x.copy(), x.copy()
    x_nan[1, 1, 1], x_inf[2, 2, 2] = np.nan, np.inf
    data_cases = {
        "mismatch": npz_bytes(x=x, y=np.arange(39) % 2), "nan": npz_bytes(x=x_nan, y=np.arange(40) % 2),
        "inf": npz_bytes(x=x_inf, y=np.arange(40) % 2), "single_class": npz_bytes(x=x, y=np.zeros(40)),
        "empty": npz_bytes(x=x[:0], y=np.zeros(0)), "no_y": npz_bytes(x=x), "strings": npz_bytes(x=np.array(["a"] * 40), y=np.arange(40) % 2),
        "garbage": b"PK\x03\x04garbage",
    }
    int8 = lambda p, out: ["export", trained.model_path, "--to", "tflite", "--precision", "int8", "--data", p, "--out", out]  # noqa: E731
    for name, data in data_cases.items():
        add("npz", name, data, ".npz", int8)

    # image folders
    def folder(name, files):
        d = root / "folders" / name
        for rel, content in files.items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_bytes(content)
        out = root / "out" / "folders" / name
        cases.append((f"folder/{name}", ["train", "cnn", "--data", d, "--epochs", "1", "--out", out], out))

    png = root / "ok.png"
    Image.new("L", (8, 8), 128).save(png)
    folder("one_class", {"a/1.png": png.read_bytes(), "a/2.png": png.read_bytes()})
    folder("unreadable", {"a/1.png": png.read_bytes(), "b/1.png": b"\x89PNG\r\n\x1a\nbroken"})
    folder("empty_class", {"a/1.png": png.read_bytes(), "b/readme.txt": b"no images"})
    folder("nothing", {"readme.txt": b"x"})
    return cases


BATCH = Path(__file__).with_name("_cli_batch.py")
MAX_SECONDS = 90  # per case: a malformed input is refused quickly, not after a long load


def _run_subprocess(case, timeout=120):
    """One case as a user runs it: its own `edgekit` process."""
    name, argv, out = case
    t0 = time.perf_counter()
    res = subprocess.run(EDGEKIT + [str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "COLUMNS": "200"})
    return {"name": name, "code": res.returncode, "stdout": res.stdout, "stderr": res.stderr,
            "seconds": time.perf_counter() - t0}


def _run_batch(cases, folder: Path, timeout=1500) -> list[dict]:
    """All cases through the same `main(argv)` in one child process (one import instead of ~230)."""
    spec, results = folder / "cases.json", folder / "results.jsonl"
    spec.write_text(json.dumps([{"name": name, "argv": [str(a) for a in argv]} for name, argv, _ in cases]))
    res = subprocess.run([sys.executable, str(BATCH), str(spec), str(results)], capture_output=True, text=True,
                         timeout=timeout, env={**os.environ, "COLUMNS": "200"})
    lines = [json.loads(ln) for ln in results.read_text().splitlines()] if results.exists() else []
    done = [ln for ln in lines if "code" in ln]
    started = [ln["start"] for ln in lines if "start" in ln]
    assert res.returncode == 0 and len(done) == len(cases), (
        f"the batch process ended with {res.returncode} during {started[-1] if started else 'start-up'}: "
        f"{res.stderr[-2000:]}")
    return done


def _problems(result: dict, out: Path) -> list[str]:
    text = result["stderr"].strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    problems = []
    if result["code"] <= 0:
        problems.append(f"exit {result['code']}")
    if "Traceback" in result["stderr"] + result["stdout"]:
        problems.append("traceback")
    if not lines or not lines[0].startswith("error:") or len(lines) > 2:
        problems.append(f"message {text[:300]!r}")
    if out.exists() and any(p.is_file() for p in out.rglob("*")):
        problems.append(f"left files {[str(p) for p in out.rglob('*')]}")
    if result["seconds"] > MAX_SECONDS:
        problems.append(f"took {result['seconds']:.0f}s")
    return problems


def test_malformed_corpus(corpus, tmp_path):
    """Every case in one process through `main(argv)`; the first case of each command also as its
    own `edgekit` process, so the exit status and stderr are the ones a shell sees."""
    assert len(corpus) >= 200, len(corpus)
    first_per_command = {}
    for name, argv, out in corpus:  # in an output folder of its own, as both runs go at once
        alone_out = out.with_name(out.name + "_alone")
        command = argv[0] + (" --data" if "--data" in argv else "")
        first_per_command.setdefault(command, (name, [str(a).replace(str(out), str(alone_out)) for a in argv],
                                           alone_out))
    with ThreadPoolExecutor(max_workers=1) as pool:
        alone = pool.map(_run_subprocess, first_per_command.values())
        batch = _run_batch(corpus, tmp_path)
        alone = list(alone)
    outs = {name: out for name, _, out in corpus}
    alone_outs = {name: out for name, _, out in first_per_command.values()}
    failures = []
    for how, results, folders in (("in one process", batch, outs), ("as its own process", alone, alone_outs)):
        for result in results:
            if problems := _problems(result, folders[result["name"]]):
                failures.append(f"{result['name']} ({how}): {'; '.join(problems)}")
    assert not failures, f"{len(failures)} of {len(corpus) + len(alone)} runs:\n" + "\n".join(failures[:30])


def test_killed_training_resumes_without_losing_epochs(tmp_path):
    out = tmp_path / "run"
    # The small CNN: its epochs take a second or so (the kill lands well before the last of 6), and
    # its graph traces in a second where MobileNetV2's takes ten, twice here (the run and the rerun).
    argv = EDGEKIT + ["train", "cnn", "--data", "digits", "--epochs", "6", "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 400
    # BackupAndRestore writes its checkpoint at the end of each epoch: kill right after the first is
    # complete. Its final ckpt-N.index, not any .index: TF writes one into a ckpt-N_temp folder first,
    # and a kill then left no checkpoint (the rerun began at epoch 1: two CI-block failures).
    while time.time() < deadline and not any((out / "backup" / "chief").glob("ckpt-*.index")):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "model.keras").exists()
    # The worst moment to die: TF had written the checkpoint but not yet named it in its state file
    # (CI once killed right there, and the rerun started again from epoch 1). Recreate that moment.
    (out / "backup" / "chief" / "checkpoint").unlink(missing_ok=True)
    res = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "epoch   1/6" not in res.stderr, res.stderr  # resumed, not restarted
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 6
    assert not (out / "backup").exists()
    assert subprocess.run(EDGEKIT + ["export", str(out / "model.keras"), "--out", str(tmp_path / "e")],
                          capture_output=True, timeout=300).returncode == 0


def test_same_seed_same_metrics(tmp_path):
    """Two processes, same seed: identical test metrics (deterministic kernels; documented tolerance 0)."""
    outs = []
    for i in range(2):
        out = tmp_path / f"r{i}"
        res = subprocess.run(EDGEKIT + ["train", "cnn", "--data", "digits", "--epochs", "2", "--seed", "3",
                                        "--out", str(out)], capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        outs.append(json.loads((out / "metrics.json").read_text()))
    assert outs[0]["accuracy"] == outs[1]["accuracy"]
    assert outs[0]["confusion_matrix"] == outs[1]["confusion_matrix"]


def test_thread_setting_after_tensorflow_started_warns_instead_of_failing():
    """A notebook that used TensorFlow before importing edgekit, with EDGEKIT_TF_THREADS set: the
    pools are fixed by then; edgekit warns once and works (it used to raise on import, so every
    command failed as an internal error)."""
    code = ("import tensorflow as tf; tf.constant(1.0) + 1.0\n"
            "import warnings; warnings.simplefilter('always')\n"
            "from edgekit._tf import tf as t; print('ok', t.reduce_sum(t.ones(3)).numpy())")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, EDGEKIT_TF_THREADS="1"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "ok 3.0" in res.stdout
    assert "EDGEKIT_TF_THREADS=1 not applied: TensorFlow had already started" in res.stderr
