"""Confidence intervals for accuracies measured on a finite test split (no scipy needed).

With 18 test images accuracy moves in 5.6-point steps; the Wilson score interval says how far
the true accuracy may be from the measured one, and stays inside [0, 1] even at 0 or 100 %.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # two-sided 95 %
SMALL_TEST_SPLIT = 100


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / n`` (``successes`` may be a count or a fraction * n)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def accuracy_ci(accuracy: float | None, n: int) -> tuple[float, float] | None:
    """The 95 % Wilson interval of an accuracy measured on ``n`` samples (None for no accuracy)."""
    if accuracy is None or not n:
        return None
    lo, hi = wilson(round(accuracy * n), n)
    return (round(lo, 6), round(hi, 6))


def fmt_accuracy(accuracy: float | None, n: int, digits: int = 4) -> str:
    """``0.9500 [0.90, 0.98]``: an accuracy with its 95 % interval, for tables and lines."""
    if accuracy is None:
        return "—"
    ci = accuracy_ci(accuracy, n)
    return f"{accuracy:.{digits}f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{accuracy:.{digits}f}"


def small_split_warning(n: int) -> str | None:
    """One line when the test split is too small for accuracy to mean much."""
    if n >= SMALL_TEST_SPLIT or n <= 0:
        return None
    lo, hi = wilson(round(0.9 * n), n)
    return (f"the test split has {n} samples (< {SMALL_TEST_SPLIT}): accuracy moves in {100 / n:.1f}-point steps "
            f"and 90 % measured means {lo:.0%}..{hi:.0%} at 95 % confidence.")


def format_drop(v, metric: str) -> str:
    """Accuracy drops in points; other figures in their own units."""
    if v is None:
        return "—"
    if metric == "accuracy":
        return f"{v * 100:+.2f} pt"
    return f"{v:+.4g}"
