"""What one compression variant is: a :class:`Variant` (a row of the table in
:mod:`edgekit.compression.variants`) and the :class:`Built` file its builder hands back.

A builder is ``build(ctx) -> Built``; ``ctx`` is the run's :class:`~edgekit.compression.context.Context`
(the input model, the data, the float parents built once, the calibration samples, the selection split).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from edgekit.compression.config import CompressConfig
    from edgekit.compression.context import Context


@dataclass
class Built:
    """What a variant builder hands back: the file, and the float model it was made from."""

    path: Path
    format: str
    precision: str
    parent: str  # key of the float parent in the context's cache ("input": the model compress was given)
    notes: dict = field(default_factory=dict)  # typed fields of the variant's row (CompressionVariant)


@dataclass(frozen=True)
class Variant:
    """One row of the variant table.

    ``chooses`` names what the builder picks between candidates, on the selection split
    (:mod:`edgekit.compression.splits`); None: it makes no choice. ``tf_keras``: it trains or reads layers
    through tensorflow-model-optimization or tf_keras, so a Keras 3 model cannot take it. ``labels``: it runs
    on classifiers only (it fine-tunes or scores candidates with class labels, or is untried on other tasks).
    """

    name: str
    steps: Callable[["CompressConfig"], list[str]]
    build: Callable[["Context"], Built]
    about: str
    chooses: Optional[str] = None
    tf_keras: bool = False
    labels: bool = False
