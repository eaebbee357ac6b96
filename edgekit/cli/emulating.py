"""`edgekit emulate`: a model's MCU bundle on an emulated Cortex-M (TFLM + CMSIS-NN, QEMU)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from edgekit.cli._app import app, out


@app.command()
def emulate(model: Optional[Path] = typer.Argument(None, help="full-int8 .tflite model"),
            core: str = typer.Option("cortex-m4", "--core", help="cortex-m4 (mps2-an386) | cortex-m33 (mps2-an505) | cortex-m55 (mps3-an547, Helium)"),
            tflm: Path = typer.Option(..., "--tflm", help="tflite-micro checkout; its tools/make/downloads/ must hold the pinned third-party trees (see --prepare-from)"),
            kernels: str = typer.Option("cmsis-nn", "--kernels", help="cmsis-nn | reference (TFLM's portable C kernels)"),
            data: Optional[str] = typer.Option(None, "--data", help="dataset the inputs come from (its validation split; as for `edgekit train`); default: random int8 inputs"),
            samples: int = typer.Option(10, "--samples", help="inputs to run and compare with LiteRT"),
            json_out: Optional[Path] = typer.Option(None, "--json", help="write the result as JSON here"),
            prepare_from: Optional[Path] = typer.Option(None, "--prepare-from", help="folder of local git clones (flatbuffers, gemmlowp, ruy, kissfft, CMSIS_6, Cortex_DFP, CMSIS-NN): fill --tflm's downloads/ from them at the pinned commits, then run")):
    """Run the model's MCU bundle (its own main.cc) in QEMU: outputs against LiteRT's reference kernels, instructions per inference and per op."""
    from edgekit.api import emulate as _emulate
    from edgekit.benchmarking import tflm_build

    r = _emulate(model, core, tflm=tflm, kernels=kernels, data=data, samples=samples, json=json_out,
                 prepare_from=prepare_from)
    if prepare_from is not None:
        out.print(f"{tflm / tflm_build.DOWNLOADS}: prepared from {prepare_from}")
    if r is None:
        return
    table = Table("#", "op", "instructions", "share", title=f"{model.name} on {r.core} ({r.machine}, {r.kernels})")
    for o in r.ops:
        table.add_row(str(o.index), o.op, f"{o.instructions:,}", f"{o.instructions / max(r.instructions, 1):.1%}")
    out.print(table)
    same = "[green]equal[/]" if r.outputs_equal else f"[red]DIFFER[/] (by up to {r.max_abs_diff_q} steps)"
    out.print(f"[bold]{r.instructions:,} instructions[/] per inference (±{r.tick_instructions:.0f}); outputs {same} to "
              f"LiteRT's reference kernels on {r.n_samples} inputs ({r.inputs}); program flash {r.flash_bytes:,} B, "
              f"RAM {r.ram_bytes:,} B (arena {r.arena_used_bytes:,} B used on the target of the "
              f"{r.program_arena_bytes or 0:,} B the bundle declares, {r.arena_bytes or 0:,} B measured on the host)", soft_wrap=True)
    if json_out:
        out.print(f"wrote {json_out}")
    if not r.outputs_equal:
        raise typer.Exit(3)
