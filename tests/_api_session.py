"""One fresh Python process, as a notebook would be after a while: it imports every module under
``edgekit/``, then calls each Python verb twice (recording the type of what each call returns), runs
``edgekit compress`` and ``edgekit tune`` through the CLI beside the same Python calls, and finally
runs every Python block of README.md and docs/*.md as written, in a temporary working folder.

``python tests/_api_session.py WORKDIR`` writes ``WORKDIR/session.json``; :func:`session` runs it
once per test run (test_api.py and test_docs.py both read it). Models are tiny (the ``cnn`` on
the built-in digits at 16x16, 1-2 epochs) so the whole process takes about a minute.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
# Names a docs example uses for the user's own input ("your image"): given here from the built-in digits.
PLACEHOLDERS = ("image_uint8", "raw_nhwc_float")


def python_blocks(text: str) -> list[str]:
    """The ```python fenced blocks of a Markdown page, in order."""
    return [m.group(1) for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)]


def json_keys(doc, prefix: str = "") -> set[str]:
    """Every key path of a JSON document (``a.b``, ``rows[].c``): its shape, not its values."""
    keys: set[str] = set()
    if isinstance(doc, dict):
        for k, v in doc.items():
            keys.add(prefix + k)
            keys |= json_keys(v, prefix + k + ".")
    elif isinstance(doc, list):
        for v in doc:
            keys |= json_keys(v, prefix.rstrip(".") + "[].")
    return keys


def folder_shape(folder: Path) -> dict[str, list[str]]:
    """Relative path of every file under ``folder`` -> its JSON key paths (``[]`` for other files)."""
    shape = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            keys = sorted(json_keys(json.loads(p.read_text()))) if p.suffix == ".json" else []
            shape[str(p.relative_to(folder))] = keys
    return shape


def session(tmp_path_factory) -> dict:
    """Run this file in a fresh process once per test run (the xdist workers share it through
    tests/_shared.py); its session.json (with ``seconds`` and the output tail)."""
    from _shared import shared

    return shared(tmp_path_factory, "api_session", _run)[1]


def _run(work: Path) -> dict:
    t0, cpu0 = time.time(), _children_cpu()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(work)], capture_output=True,
                          text=True, timeout=900, cwd=work, env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = work / "session.json"
    doc = json.loads(out.read_text()) if out.is_file() else {}
    doc.update(returncode=proc.returncode, stderr=proc.stderr, stderr_tail=proc.stderr[-3000:], stdout=proc.stdout,
               seconds=time.time() - t0, cpu_seconds=_children_cpu() - cpu0, work=str(work))
    # what the session cost, beside its outputs (the CPU figure does not depend on other processes' load)
    (work / "cost.json").write_text(json.dumps({k: doc[k] for k in ("seconds", "cpu_seconds")} | {
        "load_1min": os.getloadavg()[0], "timings": doc.get("timings")}))
    return doc


def _children_cpu() -> float:
    """CPU seconds (user + system) of finished child processes: the session's cost without the load of others."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ----------------------------------------------------------------------------- the child process

def module_names() -> list[str]:
    """Every module under edgekit/, from the files (pkgutil skips folders without __init__.py)."""
    names = []
    for p in sorted((ROOT / "edgekit").rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] != "__main__":  # a script: `python -m edgekit.cli` runs the CLI when imported
            names.append(".".join(parts))
    return names


def _import_everything() -> list[str]:
    import importlib

    names = module_names()
    for name in names:
        importlib.import_module(name)
    return names


def _call_twice(doc: dict, verb: str, *calls):
    """Call ``edgekit.<verb>`` once per argument set (each a (args, kwargs) pair); record the types."""
    import edgekit

    results, types = [], []
    for args, kwargs in calls:
        fn = getattr(edgekit, verb)  # looked up each time, as a notebook cell would
        r = fn(*args, **kwargs)
        results.append(r)
        types.append(f"{type(r).__module__}.{type(r).__qualname__}")
    doc["verbs"][verb] = {"types": types, "callable": [callable(getattr(edgekit, verb))]}
    return results


def _cli(args: list[str]) -> int:
    from typer.testing import CliRunner

    from edgekit.cli import app

    res = CliRunner().invoke(app, [str(a) for a in args])
    if res.exit_code:
        print(res.output[-2000:], file=sys.stderr)
    return res.exit_code


def _verbs(doc: dict, work: Path) -> None:
    import edgekit
    from edgekit.records import BenchSettings

    _call_twice(doc, "list_models", (("resnet*",), {}), ((), {"pattern": "cnn*"}))
    _call_twice(doc, "create_model", *[(("cnn",), dict(input_shape=(16, 16, 1), num_classes=10, filters=(8, 16)))] * 2)
    _call_twice(doc, "load_dataset", *[(("digits",), dict(input_shape=(16, 16, 1)))] * 2)
    small = dict(params={"filters": (8, 16), "dense_units": (16,)}, epochs=2)
    trained, _ = _call_twice(doc, "train", (("cnn", "digits"), dict(out=work / "t1", **small)),
                             (("cnn", "digits"), dict(out=work / "t2", seed=1, **small)))
    model = trained.model_path
    int8, onnx = _call_twice(doc, "export", ((model,), dict(to="tflite", precision="int8", data="digits", out=work / "x")),
                             ((model,), dict(to="onnx", out=work / "x")))
    _call_twice(doc, "verify", ((int8.path, model), dict(data="digits", json=work / "verify.json", min_cosine=0.9)),
                ((onnx, model), {}))
    b1, b2 = (work / "b1.json", work / "b2.json")
    _call_twice(doc, "bench", ((int8.path,), dict(runs=20, warmup=2, json=b1)),
                (([int8.path],), dict(runs=20, warmup=2, threads="1", json=b2, roofline=False)))
    _call_twice(doc, "compare", (([b1, b2],), {}), (([b1, b2],), dict(threshold=0.5, markdown=work / "cmp.md")))
    _call_twice(doc, "estimate", ((int8.path,), {}), ((int8.path,), dict(target="cortex-m4@80", json=work / "e.json")))
    _call_twice(doc, "targets", ((), {}), ((), {}))

    # compress and tune: the Python verb twice, the command once with the same arguments, into other folders
    only = ["ptq_dynamic"]
    _call_twice(doc, "compress", *[((model, "digits"), dict(out=work / "compress_py", only=only))] * 2)
    doc["cli"]["compress"] = _cli(["compress", model, "--data", "digits", "--out", work / "compress_cli",
                                   "--only", "ptq_dynamic"])
    cfg = work / "tune.toml"  # a short search: one trial of one epoch, a quick benchmark
    cfg.write_text("bench_runs = 10\nbench_warmup = 2\nmeasure_arena = false\n")
    fixed = {"filters": 8, "blocks": 1, "dense_units": 0}
    # seed 1: keras-tuner reads a seed of 0 as "none" (`seed or random.randint(...)`), so seed 0 samples differently
    tune_kw = dict(trials=1, epochs=1, config=cfg, params=fixed, seed=1)
    _call_twice(doc, "tune", *[(("cnn", "digits"), dict(out=work / "tune_py", **tune_kw))] * 2)
    doc["cli"]["tune"] = _cli(["tune", "cnn", "--data", "digits", "--out", work / "tune_cli", "--trials", "1",
                               "--epochs", "1", "--seed", "1", "--config", cfg, *[f"--param={k}={v}" for k, v in fixed.items()]])
    for name in ("compress", "tune"):
        doc["shapes"][name] = {"python": folder_shape(work / f"{name}_py"), "cli": folder_shape(work / f"{name}_cli")}

    # the demo's bundle is where docs/deploy.md looks (export/run/) when the docs run below
    quick = dict(model="cnn", epochs=1, npu=False, mcu=False, profile=False, bench=BenchSettings(runs=10, warmup=2))
    _call_twice(doc, "demo", ((), dict(out=work / "export" / "run", **quick)),
                ((), dict(out=work / "export" / "run2", **quick)))
    _call_twice(doc, "check", ((work / "export" / "run",), {}), ((work / "export" / "run2",), {}))
    doc["run_is_demo"] = edgekit.run is edgekit.demo
    for weights in ("imagenet", work / "missing.h5"):  # README: a pretrained start without the file here
        try:
            edgekit.create_model("mobilenet_v2", input_shape=(96, 96, 3), num_classes=2, alpha=0.35, weights=weights)
            doc["weights_errors"].append(None)  # the file is on this machine
        except edgekit.EdgekitError as e:
            doc["weights_errors"].append(str(e))


def _placeholders(work: Path) -> dict:
    """The user's own input a docs example names, made from the demo bundle's test digits."""
    import numpy as np

    from edgekit.convert.metadata import read_metadata
    from edgekit.data import load_dataset

    meta = read_metadata(work / "export" / "run" / "model_int8.tflite")
    norm = meta["normalization"]
    raw = load_dataset("digits", input_shape=(16, 16, 1)).x_test[:4] * norm["std"] + norm["mean"]
    return {"image_uint8": np.clip(raw[0], 0, 255).astype(np.uint8), "raw_nhwc_float": raw.astype(np.float32)}


def _docs(doc: dict, work: Path) -> None:
    os.chdir(work)  # examples' relative paths (runs/..., export/...) land in the temporary folder
    given = _placeholders(work)
    for rel in DOC_FILES:
        ns = {"__name__": "__main__", **given}  # one namespace per page: its blocks build on each other
        for i, code in enumerate(python_blocks((ROOT / rel).read_text()), 1):
            key = f"{rel}#{i}"
            t0 = time.time()
            try:
                exec(compile(code, key, "exec"), ns)
                doc["docs"][key] = {"ok": True}
            except BaseException as e:  # noqa: BLE001 - any failure of an example is reported
                doc["docs"][key] = {"ok": False, "error": f"{type(e).__name__}: {e}",
                                    "traceback": traceback.format_exc()[-2000:]}
            doc["docs"][key]["seconds"] = round(time.time() - t0, 2)


def main(work: Path) -> None:
    doc = {"verbs": {}, "cli": {}, "shapes": {}, "docs": {}, "timings": {}, "weights_errors": []}
    t0 = time.time()
    try:
        doc["modules"] = _import_everything()
        doc["timings"]["imports"] = time.time() - t0
        _verbs(doc, work)
        doc["timings"]["verbs"] = time.time() - t0
        _docs(doc, work)
        doc["timings"]["docs"] = time.time() - t0
    except BaseException:  # noqa: BLE001 - the tests show where it stopped
        doc["crash"] = traceback.format_exc()[-4000:]
    (work / "session.json").write_text(json.dumps(doc, indent=1, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
