"""compression.md: the compression table as Markdown (accuracy with its 95 % Wilson interval; other
tasks' headline figure, RMSE or ROC AUC, in its own units), from ``report/templates/compression.md.j2``."""

from __future__ import annotations

from edgekit.records import CompressionFile


def compression_markdown(report: CompressionFile, source: str = "", data: str = "") -> str:
    from edgekit.report.render import render_markdown_template

    return render_markdown_template("compression.md.j2", c=report, source=source, data=data)
