"""How edgekit writes a quantity for people: one spelling in reports, pages and the console."""

from __future__ import annotations


def format_bytes(n) -> str:
    """A byte count in binary units: ``812 B``, ``1.5 KB``, ``1.57 MB``, ``2.10 GB``; ``—`` for None."""
    if n is None:
        return "—"
    n = float(n)
    if n < 1024:
        return f"{n:.0f} B"
    if n < 1 << 20:
        return f"{n / 1024:.1f} KB"
    if n < 1 << 30:
        return f"{n / (1 << 20):.2f} MB"
    return f"{n / (1 << 30):.2f} GB"


def format_number(v, spec: str = "{:.3f}") -> str:
    """A figure as ``spec`` formats it; ``—`` when there is none (None or ""), and the value as text
    when ``spec`` does not fit it (a status word in a numeric column)."""
    if v is None or v == "":
        return "—"
    try:
        return spec.format(v)
    except (ValueError, TypeError):
        return str(v)
