"""Every Markdown report is a Jinja template in ``edgekit/report/templates`` rendered here, with one set
of filters: report.md (a run bundle), compression.md and a search's report.md.

    render_markdown_template("compression.md.j2", c=report, source=..., data=...)
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from jinja2 import Environment

from edgekit.units import format_bytes, format_number


@lru_cache(maxsize=1)
def _env() -> Environment:
    from edgekit.verification.stats import fmt_accuracy, format_drop

    env = Environment(trim_blocks=False, lstrip_blocks=False, keep_trailing_newline=True)
    # Markdown tables show figures to 4 decimals unless a template asks otherwise
    env.filters.update(size=format_bytes, num=lambda v, spec="{:.4f}": format_number(v, spec), acc=fmt_accuracy, drop=format_drop, basename=lambda p: Path(str(p)).name,
                       thousands=lambda n: f"{n:,}" if n is not None else "?")
    return env


def render_markdown_template(name: str, **context) -> str:
    text = resources.files("edgekit.report").joinpath(f"templates/{name}").read_text()
    return _env().from_string(text).render(**context)
