"""compress's variant table: a new variant is one entry, compression.json is typed from end to end,
and the package keeps its imports at the top (no module imports after its first def or class).

Cheap: one tiny MLP on 8x8 digits, one variant, a few timing runs.
"""

from __future__ import annotations

import ast
import json
import typing
from pathlib import Path

import pytest

import edgekit
from edgekit.records import CompressionBaseline, CompressionFile, CompressionVariant

PACKAGE = Path(edgekit.__file__).parent
RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def test_no_module_imports_after_its_first_def_or_class():
    """An import below a def (at module level, also inside a top-level ``if``/``try``) is how an import
    circle gets dodged; the dependency should be moved instead."""
    late = []
    for path in sorted(PACKAGE.rglob("*.py")):
        first = None
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                first = first or node.name
            elif first and any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(node)):
                late.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} (after {first})")
    assert not late, late


def _bare_dicts(record: type, seen=None) -> list[str]:
    """Fields of ``record`` (and the records it holds) typed as a bare ``dict`` / ``dict[str, Any]``."""
    from pydantic import BaseModel

    seen = seen if seen is not None else set()
    if record in seen:
        return []
    seen.add(record)
    found = []
    for name, field in record.model_fields.items():
        stack = [field.annotation]
        while stack:
            t = stack.pop()
            origin, args = typing.get_origin(t), typing.get_args(t)
            if t is dict or (origin is dict and (not args or args[1] is typing.Any)) or t is typing.Any:
                found.append(f"{record.__name__}.{name}")
            stack += [a for a in args if a is not type(None)]
            if isinstance(t, type) and issubclass(t, BaseModel):
                found += _bare_dicts(t, seen)
    return found


def test_compression_json_is_typed_and_the_saved_runs_still_validate():
    """No untyped dict in compression.json's record, no free-form extra keys, and every variant row of the
    saved benchmark runs (every variant, their notes included) validates and dumps back unchanged."""
    assert _bare_dicts(CompressionFile) == []
    for rec in (CompressionFile, CompressionBaseline, CompressionVariant):
        assert rec.model_config.get("extra") == "forbid", rec
    rows = [(f.name, v) for f in sorted(RESULTS.glob("compression*.json"))
            for m in json.loads(f.read_text())["models"].values() for v in m["variants"]]
    from edgekit.compression import VARIANTS

    assert {r["name"] for _, r in rows} == set(VARIANTS)
    for name, row in rows:
        assert CompressionVariant.model_validate(row).model_dump() == row, (name, row["name"])


@pytest.fixture
def tiny_variant():
    """A variant added from outside the package: one call, and it is in compress's table."""
    from edgekit.compression import VARIANTS, Built, Variant, register
    from edgekit.compression.quantize import tflite_bytes

    def build(ctx):
        path = ctx.write_tflite("tiny_fp32", tflite_bytes(ctx.model, "fp32"))
        return Built(path, "tflite", "fp32", "input", {"note": "the fp32 file again, under a new name"})

    v = register(Variant("tiny_fp32", lambda c: ["tflite_fp32"], build, "the baseline again (a test variant)"))
    try:
        yield v
    finally:
        VARIANTS.pop(v.name, None)


def test_a_new_variant_is_one_table_entry(tiny_variant, tmp_path):
    from edgekit._tf import keras
    from edgekit.compression import VARIANTS, compress, register
    from edgekit.compression.variants import select
    from edgekit.data import load_dataset
    from edgekit.errors import EdgekitError

    assert select(None, None)[-1] == "tiny_fp32" and "tiny_fp32" in select(["tiny_fp32"], None)
    with pytest.raises(EdgekitError, match="already has a variant named 'ptq_int8'"):
        register(VARIANTS["ptq_int8"])
    data = load_dataset("digits", input_shape=(8, 8, 1), seed=0)
    keras.utils.set_random_seed(0)
    mlp = keras.Sequential([keras.Input(data.input_shape), keras.layers.Flatten(),
                            keras.layers.Dense(10, activation="softmax")])
    mlp.compile("adam", "sparse_categorical_crossentropy")
    rep = compress(mlp, data, out=tmp_path, only=["tiny_fp32"], bench_runs=3, bench_warmup=0)
    row = rep.variant("tiny_fp32")
    assert row.status == "ok" and row.steps == ["tflite_fp32"] and row.note.startswith("the fp32 file")
    assert row.bytes == pytest.approx(rep.baseline.bytes, rel=0.01)  # the same model, other metadata
    assert row.parity.cosine > 0.9999 and abs(row.drop) < 1e-9  # measured like every variant
    doc = CompressionFile.model_validate_json((tmp_path / "compression.json").read_text())
    assert [v.name for v in doc.variants] == ["tiny_fp32"]
    assert "tiny_fp32" in (tmp_path / "compression.md").read_text()
