"""What :func:`edgekit.compression.compress` returns (:class:`CompressionResult`): the records it wrote to
``compression.json`` and where the files went. The file itself is :class:`edgekit.records.CompressionFile`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgekit.records import CompressionBaseline, CompressionVariant, Tabular, TaskMetricSpec, compression_rows


@dataclass
class CompressionResult(Tabular):
    """What :func:`~edgekit.compression.compress` returns: the records of compression.json and where it went.
    ``rows()`` / ``to_dataframe()`` / Jupyter show the compression table."""

    baseline: CompressionBaseline
    variants: list[CompressionVariant]
    json_path: Path
    md_path: Path
    out: Path
    metric: TaskMetricSpec | None = None  # the task's headline figure that ``drop`` is measured in

    def as_dict(self) -> dict:
        return {"baseline": self.baseline.model_dump(), "variants": [v.model_dump() for v in self.variants]}

    @property
    def exit_code(self) -> int:
        """0 when every requested variant ran (or did not apply), 3 when one failed, 70 on a bug."""
        from edgekit.errors import failure_exit_code

        return failure_exit_code(v.status or "ok" for v in self.variants)

    def rows(self) -> list[dict]:
        return compression_rows(self.baseline, self.variants)

    def table_title(self) -> str:
        return f"compression of {self.out} ({self.metric.name if self.metric else 'accuracy'})"

    def variant(self, name: str) -> CompressionVariant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)
