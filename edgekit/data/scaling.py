"""What scaling a model needs on its input, and how raw data get there.

A :class:`Scaling` is a request, from the model (a ``Rescaling``/``Normalization`` layer at its
top, its ``model.json``) or from the user (``--input-range LOW,HIGH`` / ``--mean`` / ``--std``).
Given the raw range of the data (0..255 for 8-bit images) it becomes the
:class:`~edgekit.artifact.Normalization` that is applied to the data and recorded with every
artifact: ``model input = (raw - mean) / std``.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgekit.artifact import Normalization
from edgekit.errors import EdgekitError

# Raw range assumed when no data are at hand (an export without --data): 8-bit images/features.
DEFAULT_RAW_RANGE = (0.0, 255.0)


@dataclass(frozen=True)
class Scaling:
    """Exactly one way of fixing the model's input: an input range, or mean/std, or a full Normalization.

    ``source`` says where it came from (``"Rescaling layer"``, ``"--input-range"``, ``"model.json"``),
    so a disagreement can be explained in one line.
    """

    input_range: tuple[float, float] | None = None
    mean: float | None = None
    std: float | None = None
    normalization: Normalization | None = None
    source: str = "user"
    detail: str = ""  # e.g. "Rescaling(scale=0.00392157, offset=0)"

    def __post_init__(self):
        given = sum(x is not None for x in (self.input_range, self.normalization)) + (
            self.mean is not None or self.std is not None)
        if given > 1:
            raise EdgekitError("give either --input-range or --mean/--std, not both.")
        if self.input_range is not None:
            lo, hi = self.input_range
            if not hi > lo:
                raise EdgekitError(f"--input-range LOW,HIGH needs LOW < HIGH, got {lo:g},{hi:g}.")
        if self.std is not None and self.std == 0:
            raise EdgekitError("--std must not be 0.")

    def normalization_for(self, raw_range: tuple[float, float] | None = None) -> Normalization:
        """The Normalization taking data in ``raw_range`` to what the model needs."""
        if self.normalization is not None:
            return self.normalization
        lo, hi = raw_range or DEFAULT_RAW_RANGE
        if self.input_range is not None:
            a, b = self.input_range
            std = (hi - lo) / (b - a) if hi > lo else 1.0
            return Normalization(mean=lo - a * std, std=std, raw_range=(lo, hi))
        return Normalization(mean=self.mean or 0.0, std=self.std if self.std is not None else 1.0,
                             raw_range=(lo, hi))

    def describe(self) -> str:
        return f"{self.source}{': ' + self.detail if self.detail else ''}"


def user_scaling(input_range=None, mean: float | None = None, std: float | None = None) -> Scaling | None:
    """The user's ``--input-range`` (``"0,1"`` or a pair) / ``--mean`` / ``--std``, or None if none was given."""
    if input_range is None and mean is None and std is None:
        return None
    if isinstance(input_range, str):
        try:
            parts = [float(v) for v in input_range.replace(" ", "").split(",")]
        except ValueError:
            parts = []
        if len(parts) != 2:
            raise EdgekitError(f"--input-range expects LOW,HIGH (e.g. 0,1 or -1,1), got {input_range!r}.")
        input_range = (parts[0], parts[1])
    flag = "--input-range" if input_range is not None else "--mean/--std"
    detail = (f"{input_range[0]:g}..{input_range[1]:g}" if input_range is not None
              else f"mean {mean if mean is not None else 0:g}, std {std if std is not None else 1:g}")
    return Scaling(input_range=tuple(input_range) if input_range is not None else None, mean=mean, std=std,
                   source=flag, detail=detail)


def same_normalization(a: Normalization, b: Normalization, rel: float = 1e-3) -> bool:
    """Equal up to rounding, compared on the input range each gives to the same raw range."""
    lo, hi = a.raw_range
    pa = ((lo - a.mean) / a.std, (hi - a.mean) / a.std)
    pb = ((lo - b.mean) / b.std, (hi - b.mean) / b.std)
    span = max(abs(pa[1] - pa[0]), 1e-12)
    return all(abs(x - y) <= rel * span for x, y in zip(pa, pb))
