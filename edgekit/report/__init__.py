"""report.json, report.md, report.html and the manifest of a run bundle, from records (no TensorFlow import)."""

from __future__ import annotations

from pathlib import Path

from edgekit._io import write_json, write_text
from edgekit.artifact import Artifact, Latency, Parity
from edgekit.records import ArtifactRow, RunReport


def artifact_row(art: Artifact, accuracy: float | None, parity: Parity | None, latency: Latency | None,
                 error: str | None = None) -> ArtifactRow:
    """The report row of one file (with its phone-GPU check when it is a .tflite)."""
    row = ArtifactRow.of(art, accuracy, parity, latency, gpu=gpu_record(art))
    if error:
        row.error = error
    return row


def gpu_record(art: Artifact) -> dict | None:
    """``artifacts[].gpu`` for a .tflite: the record's own check, else checked here."""
    if art.format != "tflite":
        return None
    if art.gpu is not None:
        return art.gpu.model_dump()
    from edgekit.runtime.gpu import gpu_compatibility

    try:
        return gpu_compatibility(art.path).model_dump()
    except Exception as e:  # noqa: BLE001 - a file that cannot be analyzed is reported, not fatal to the report
        return {"compatible": False, "unsupported_ops": [], "notes": f"not analyzed: {e}"}


def render_markdown(report: RunReport | dict) -> str:
    """report.md from the run's record (a dict is read as report.json); template ``templates/report.md.j2``."""
    from edgekit.report.render import render_markdown_template

    report = report if isinstance(report, RunReport) else RunReport.model_validate(report)
    norm = report.normalization or {"mean": 0, "std": 1, "raw_range": "?"}
    cols = (report.metric or {"columns": ["accuracy"]})["columns"]
    return render_markdown_template("report.md.j2", r=report, norm=norm, cols=cols)


def write_report(run_dir: str | Path, report: RunReport) -> tuple[Path, Path]:
    """report.json (the record's ``model_dump()``) and report.md, in ``run_dir``."""
    run_dir = Path(run_dir)
    return (write_json(run_dir / "report.json", report.model_dump()),
            write_text(run_dir / "report.md", render_markdown(report)))


def write_bundle(run_dir: str | Path, report: RunReport, html: bool = True) -> Path:
    """Everything a bundle's report is: report.json and report.md, report.html (``html``), and the
    manifest last (its presence means the bundle is complete). Returns ``run_dir``."""
    from edgekit.report.manifest import write_manifest

    write_report(run_dir, report)
    if html:
        from edgekit.report.html import write_html

        write_html(run_dir, report)
    write_manifest(run_dir)
    return Path(run_dir)
