"""The model list without TensorFlow: what `edgekit models` shows, precomputed.

Counting parameters and multiply-adds means building every registered model (31 of them, ~30 s
with TensorFlow's start-up). ``catalog.json`` holds the result, generated from the registry by
``python -m edgekit.catalog`` and checked against it by a test, so listing takes well under a
second and never imports TensorFlow.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
import sys
from functools import lru_cache
from pathlib import Path

from edgekit.errors import EdgekitError

CATALOG_PATH = Path(__file__).with_name("catalog.json")


def natural_key(s: str):
    """Sort key that orders the digits in a name as numbers: resnet50 before resnet101 (the registry's
    list_models sorts with it too)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


@lru_cache(maxsize=1)
def catalog() -> dict[str, dict]:
    """``{name: {task, input_shape, paper, family, knobs, params, macs}}`` as generated from the registry
    (``knobs``: what ``--param`` takes besides ``input_shape``)."""
    return json.loads(CATALOG_PATH.read_text())["models"]


def list_catalog(pattern: str = "*") -> list[str]:
    return sorted((n for n in catalog() if fnmatch.fnmatch(n, pattern)), key=natural_key)


def unknown_model(name: str, names) -> EdgekitError:
    """The one line for a model name that is not registered, with the close ones."""
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return EdgekitError(f"unknown model {name!r}.{hint} `edgekit models` lists the {len(names)} available ones.")


def unknown_knobs(name: str, unknown, allowed) -> EdgekitError:
    """The one line for knobs a model does not have, with the ones it has."""
    return EdgekitError(f"model {name!r} has no knob {', '.join(map(repr, sorted(unknown)))}; "
                        f"its knobs are: {', '.join(allowed) or 'none'}.")


def check_model(name: str, params=()) -> None:
    """Refuse an unknown model or knob from the table, before TensorFlow starts (a typo should not
    cost its ~4 s start-up). Once the registry is loaded it checks itself, models registered from
    outside edgekit included, so the table is not asked then."""
    if "edgekit.models.registry" in sys.modules:
        return
    table = catalog()
    if name not in table:
        raise unknown_model(name, table)
    unknown = set(params) - set(table[name]["knobs"]) - {"input_shape"}
    if unknown:
        raise unknown_knobs(name, unknown, table[name]["knobs"])


def entry(name: str, count: bool = True) -> dict:
    """One model's row, built from the registry (imports TensorFlow)."""
    from edgekit.models import count_macs, count_params, create_model, get_spec
    from edgekit.training.tasks import EXTRA_PARAMS

    spec = get_spec(name)
    row = {"task": spec.task, "input_shape": list(spec.default_input_shape), "paper": spec.paper,
           "family": spec.family, "knobs": [*spec.knobs, *EXTRA_PARAMS.get(spec.task, ())], "params": None,
           "macs": None}
    if count:
        net = create_model(name, input_shape=spec.default_input_shape)
        row.update(params=int(count_params(net)), macs=int(count_macs(net)))
        from edgekit._tf import keras

        keras.backend.clear_session()
    return row


def generate() -> dict:
    from edgekit.models import list_models

    return {"generated_by": "python -m edgekit.catalog", "models": {n: entry(n) for n in list_models()}}


def _regenerate() -> None:
    from edgekit._io import write_json

    write_json(CATALOG_PATH, generate())
    print(f"wrote {CATALOG_PATH} ({len(catalog.__wrapped__())} models)")


if __name__ == "__main__":  # regenerate after adding or changing a model
    _regenerate()
