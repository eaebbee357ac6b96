"""Shared checks for builders whose output is not a class vector."""

from __future__ import annotations

from edgekit.errors import EdgekitError


def reject_num_classes(fn: str, num_classes, what: str):
    if num_classes is not None:
        raise EdgekitError(f"{fn}: {what}, so num_classes does not apply (got {num_classes!r}); leave it unset.")
