"""benchmarks/_provenance.py keeps every run: a second run of a benchmark never replaces the first."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import _provenance  # noqa: E402


def test_a_new_run_is_written_beside_the_earlier_one_and_lists_every_run(tmp_path, monkeypatch):
    monkeypatch.setattr(_provenance, "_THIS_RUN", {})
    first = _provenance.write_results(tmp_path / "bench.json", {"figure": 1})
    _provenance.write_markdown(first, "# first")
    assert _provenance.write_results(tmp_path / "bench.json", {"figure": 2}) == first  # the same run updates itself
    monkeypatch.setattr(_provenance, "_THIS_RUN", {})  # a later process
    second = _provenance.write_results(tmp_path / "bench.json", {"figure": 3})
    _provenance.write_markdown(second, "# second")
    (tmp_path / "bench_other.json").write_text("{}")  # another benchmark's file is not a run of this one
    assert second != first and second.parent == first.parent and second.name.startswith("bench_")
    assert json.loads(first.read_text())["figure"] == 2 and json.loads(second.read_text())["figure"] == 3
    assert "provenance" in json.loads(second.read_text())
    assert _provenance.runs_of(second) == [first, second]
    md = second.with_suffix(".md").read_text()
    assert f"[{first.name}]" in md and f"[{second.name}]" in md and "bench_other" not in md
    assert first.with_suffix(".md").read_text().startswith("# first")
