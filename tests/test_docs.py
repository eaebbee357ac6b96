"""The API reference builds without a warning (a renamed argument the docs still mention fails), every
verb documents every argument, and every Python block of README.md and docs/ runs as written.

The blocks run in tests/_api_session.py's fresh process, after it imported every edgekit module and
called each verb twice, in a temporary working folder (their relative paths land there); the two
names docs/deploy.md uses for the user's own input (_api_session.PLACEHOLDERS) come from the digits.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

import pytest

from _api_session import DOC_FILES, PLACEHOLDERS, ROOT, python_blocks, session


def test_reference_builds_strict(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = (tmp_path / "site" / "api" / "index.html").read_text()
    import edgekit

    for name in edgekit.VERBS + ("RunReport", "BenchFile", "CompressionResult", "TuneResult", "TrainResult",
                                 "VerifyResult", "Artifact", "McuEstimate", "CompareResult", "BundleCheck"):
        assert f'id="edgekit.' in page and re.search(rf'id="edgekit\.[\w.]*\b{name}"', page), name


def _documented_args(doc: str) -> list[str]:
    section = doc.split("Args:", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\s{8}(\*{0,2}\w+):", section, re.M)


@pytest.mark.parametrize("verb", ["create_model", "list_models", "load_dataset", "train", "export", "verify",
                                  "bench", "compare", "compress", "tune", "estimate", "demo", "check"])
def test_every_argument_is_documented_with_an_example(verb):
    import edgekit.api

    fn = getattr(edgekit.api, verb)
    params = [("**" if p.kind is p.VAR_KEYWORD else "") + p.name for p in inspect.signature(fn).parameters.values()]
    assert _documented_args(fn.__doc__) == params
    assert "Examples:" in fn.__doc__ and "Returns:" in fn.__doc__


def test_every_python_block_runs_as_written(tmp_path_factory):
    doc = session(tmp_path_factory)
    assert "crash" not in doc, doc["crash"]
    want = [f"{rel}#{i}" for rel in DOC_FILES for i in range(1, len(python_blocks((ROOT / rel).read_text())) + 1)]
    assert len(want) >= 8 and "README.md#1" in want
    assert sorted(doc["docs"]) == sorted(want)
    failed = {k: v["error"] + "\n" + v["traceback"] for k, v in doc["docs"].items() if not v["ok"]}
    assert not failed, failed
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    assert all(name in deploy for name in PLACEHOLDERS)  # placeholders only for names the docs use
