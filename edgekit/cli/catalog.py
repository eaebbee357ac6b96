"""`edgekit models`, `targets` and `estimate`: what the registry holds and what a board would do with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from edgekit.cli._app import _progress, app, out
from edgekit.errors import EdgekitError
from edgekit.units import format_bytes, format_number


@app.command()
def models(pattern: str = typer.Argument("*", help="shell-style filter, e.g. 'mobilenet*'"),
           live: bool = typer.Option(False, "--live", help="build each model now to count params and MACs (slow; "
                                     "the default reads the table generated from the registry)"),
           latency: bool = typer.Option(False, "--latency", help="add measured p50 latencies (LiteRT fp32/int8, onnxruntime fp32, 1 thread) and the TFLM arena from benchmarks/results/zoo_latency.json")):
    """List the registered models with their task, default input, parameters and multiply-adds."""
    from edgekit.catalog import catalog, entry, list_catalog

    lat = _zoo_latency() if latency else {}
    extra = ("TFLite fp32 ms", "TFLite int8 ms", "ONNX fp32 ms", "TFLM arena") if latency else ()
    names = list_catalog(pattern)
    if live:
        from edgekit.models import list_models

        names = list_models(pattern)
    table = Table("model", "task", "input", "params", "MACs", *extra, "paper", title="edgekit models")
    table.columns[0].min_width = max(map(len, names), default=5)  # a model name is never cut, the paper wraps
    with _progress(len(names) if live else 0, "counting params and MACs") as step:
        for name in names:
            row = entry(name) if live else catalog()[name]
            step()
            m = row["macs"]
            r = lat.get(name, {})
            cells = (format_number(r.get("tflite_fp32_ms"), "{:.3f}"), format_number(r.get("tflite_int8_ms"), "{:.3f}"),
                     format_number(r.get("onnx_fp32_ms"), "{:.3f}"),
                     _arena_cell(r)) if latency else ()
            table.add_row(name, row["task"], "x".join(map(str, row["input_shape"])), format_number(row["params"], "{:,}"),
                          "—" if m is None else f"{m / 1e6:,.1f} M", *cells, row["paper"].split(",")[0])
    out.print(table)
    if latency:
        out.print(f"[dim]latency: {_ZOO_LATENCY.name} ({len(lat)} models measured; — = not measured or failed; "
                  "TFLM failed: the reason is the row's tflm_error there and a footnote of zoo_latency.md)[/]")


def _arena_cell(row: dict) -> str:
    if row.get("tflm_arena_bytes"):
        return format_bytes(row["tflm_arena_bytes"])
    return "TFLM failed" if row.get("tflm_error") else "—"


_ZOO_LATENCY = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "zoo_latency.json"


def _zoo_latency() -> dict:
    """Rows of benchmarks/results/zoo_latency.json by model (written by benchmarks/zoo_latency.py)."""
    try:
        doc = json.loads(_ZOO_LATENCY.read_text())
        return {r["model"]: r for r in doc["rows"] if not r.get("error")}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EdgekitError(f"no readable zoo latency table at {_ZOO_LATENCY} ({type(e).__name__}); "
                           "run `python benchmarks/zoo_latency.py` first.") from None



@app.command()
def estimate(model: Path = typer.Argument(..., help="full-int8 .tflite model"),
             target: str = typer.Option("nucleo-l4r5zi", "--target", help="board from `edgekit targets`, or core@MHz such as cortex-m4@80"),
             kernels: str = typer.Option("cmsis-nn", "--kernels", help="cmsis-nn | reference (TFLM's portable C kernels)"),
             arena: Optional[int] = typer.Option(None, "--arena", help="TFLM arena bytes if known (mcu.json); measured otherwise"),
             json_out: Optional[Path] = typer.Option(None, "--json", help="write the estimate as JSON here"),
             counts: Optional[Path] = typer.Option(None, "--counts", help="instructions counted on an emulated core (`edgekit emulate --json`): the latency rests on them")):
    """Estimated milliseconds per inference on a Cortex-M board (TFLM), per op, and whether it fits."""
    from edgekit.api import estimate as _estimate

    e = _estimate(model, target=target, kernels=kernels, arena=arena, json=json_out, counts=counts)
    table = Table("#", "op", "MACs", "cycles", "share", title=f"{model.name} on {e.target} ({e.core}, {e.mhz:g} MHz, {e.kernels})")
    for r in sorted(e.per_op, key=lambda r: -r.cycles)[:15]:
        table.add_row(str(r.index), r.op, f"{r.macs:,}", f"{r.cycles:,}", f"{r.cycles / max(e.cycles, 1):.1%}")
    out.print(table)
    f = e.fits
    yes = {True: "[green]yes[/]", False: "[red]NO[/]", None: "unknown"}
    ram = (f"RAM {yes[f.ram]} (arena {f.arena_bytes:,} + runtime {f.runtime_ram_overhead_bytes:,} = "
           f"{f.ram_needed_bytes:,} of {format_number(f.ram_bytes, '{:,}')} B)") if f.ram_needed_bytes else "RAM unknown (arena not measured)"
    out.print(f"[bold]{e.summary}[/] ({e.cycles:,} cycles, {e.macs:,} MACs); {ram}; flash {yes[f.flash]} "
              f"(model {f.model_bytes:,} + code {f.runtime_flash_overhead_bytes:,} of {format_number(f.flash_bytes, '{:,}')} B)"
              + ("" if f.ram_bytes else "; the board's RAM/flash are unknown for a generic core@MHz target"))
    worst = "" if e.expected_error_worst is None else f", worst {e.expected_error_worst:.0%}"
    out.print(f"expected error: {e.expected_error_from}{worst}; basis: {e.basis} ({e.basis_detail}); "
              f"see {e.calibration.file}; cannot know: {e.cannot_know}", soft_wrap=True)
    if json_out:
        out.print(f"wrote {json_out}")


@app.command()
def targets():
    """Microcontroller targets for `estimate`, `export --to mcu --target` and `tune --target`."""
    from edgekit.api import targets as _targets
    from edgekit.benchmarking.mcu_estimate import target_expected_error
    from edgekit.benchmarking.mcu_targets import CORES

    table = Table("target", "board", "core", "MHz", "RAM", "flash", "latency basis", "expected error",
                  title="edgekit targets")
    for t in _targets():
        basis = ("calibrated (MLPerf Tiny)" if t.calibrated else f"factors of {t.calibrated_on}" if t.calibrated_on
                 else "pooled factors, by core class")
        exp = target_expected_error(t)
        table.add_row(t.name, t.board, t.core, f"{t.mhz:g}", format_bytes(t.ram_bytes), format_bytes(t.flash_bytes), basis,
                      "?" if exp is None else f"± {exp.median:.0%} (worst {exp.worst:.0%})")
    out.print(table)
    out.print(f"generic targets: <core>@<MHz>, core one of {', '.join(c.removeprefix('cortex-') for c in CORES)} "
              "(e.g. cortex-m4@80); RAM and flash unknown")


