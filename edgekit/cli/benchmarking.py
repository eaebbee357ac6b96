"""`edgekit bench`, `compare` and `check`: latency, regression gates and bundle integrity (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from edgekit.cli._app import _file_column, _print_gpu, _warn, app, err, out
from edgekit.units import format_number


@app.command()
def bench(files: List[Path] = typer.Argument(..., help=".tflite, .onnx or Keras model files"),
          runtime: Optional[str] = typer.Option(None, help="litert | onnxruntime | keras (default: from the suffix)"),
          threads: str = typer.Option("1", help="thread counts, a row each: 1, 1,2 or 1-4"),
          runs: int = typer.Option(100, help="timed single-sample runs"),
          warmup: int = typer.Option(10, help="untimed runs first"),
          xnnpack: bool = typer.Option(True, "--xnnpack/--no-xnnpack", help="LiteRT: apply the XNNPACK delegate"),
          profile: bool = typer.Option(False, "--profile", help="per-operator times (LiteRT by isolating each op, onnxruntime's profiler)"),
          roofline: bool = typer.Option(True, "--roofline/--no-roofline", help="GMAC/s and fraction of this CPU's measured matmul ceiling for the row's precision (float32 or int8)"),
          macs: Optional[int] = typer.Option(None, "--macs", help="multiply-adds per inference (default: counted from the graph)"),
          json_out: Optional[Path] = typer.Option(None, "--json", help="write machine info and raw timings here"),
          interleave: bool = typer.Option(False, "--interleave", help="time the files in alternating rounds of one run and compare them with the first (the noise-robust gate: exit 1 on a significant regression)"),
          rounds: int = typer.Option(10, "--rounds", help="--interleave: alternating rounds the runs are split into"),
          threshold: float = typer.Option(0.10, "--threshold", help="--interleave: a significant slow-down beyond this fraction fails (exit 1)")):
    """Time single-sample inference: init, first run, mean, p50, p90, p99, std (ms), peak memory, roofline."""
    from rich.progress import Progress

    from edgekit.api import bench as _bench

    with Progress(console=err, transient=True) as prog:
        doc = _bench(files, runtime=runtime, threads=threads, runs=runs, warmup=warmup, xnnpack=xnnpack,
                     profile=profile, roofline=roofline, macs=macs, json=json_out, interleave=interleave,
                     rounds=rounds, threshold=threshold, progress=prog)
    if interleave:
        return _print_interleaved(doc, files, threshold, json_out)
    results = doc.results
    table = Table(_file_column(), "runtime", "precision", "threads", "init", "first", "mean", "p50", "p90", "p99", "std",
                  "peak MB", "GMAC/s", "of ceiling", title="latency (ms)")
    for r in results:
        lat, mem, roof = r.latency_ms, r.memory_mb or {}, r.roofline or {}
        table.add_row(r.name, r.runtime + ("" if r.options.get("xnnpack", True) else " (no xnnpack)"),
                      r.precision, str(r.threads), *(format_number(getattr(lat, k)) for k in ("init", "first", "mean", "p50", "p90", "p99", "std")),
                      format_number(mem.get("peak_delta"), "{:.1f}"), format_number(roof.get("gmacs_per_s"), "{:.2f}"),
                      format_number(roof.get("fraction"), "{:.0%}"))
    out.print(table)
    for r in results:
        if r.options.get("xnnpack_fallback"):
            _warn(f"{r.name}: {r.options['xnnpack_fallback']}")
    _print_gpu(files)
    if profile:
        from edgekit.benchmarking.profile import by_op_type

        for r in results:
            prof = r.profile
            pt = Table("op", "count", "ms", "share", title=f"{r.name}, {r.threads} thread(s)",
                       caption=f"per-op sum {prof['sum_ms']:.3f} ms, whole model {prof['total_ms']:.3f} ms")
            for a in by_op_type(prof)[:10]:
                pt.add_row(a["op"], str(a["count"]), f"{a['ms']:.4f}", f"{a['share']:.0%}")
            out.print(pt)
        out.print(f"[dim]{results[0].profile['method']}[/]" if results else "")
    if roofline and any(r.roofline for r in results):
        from edgekit.benchmarking.ceiling import int8_matmul_ceiling, matmul_ceiling

        c, c8 = matmul_ceiling(), int8_matmul_ceiling()
        out.print(f"ceilings (\"of ceiling\" is against the row's own precision): float32 sgemm {c.n}², 1 thread: "
                  f"{c.gmacs_per_s:.1f} GMAC/s ({c.blas}); int8 MatMulInteger {c8.n}², 1 thread: "
                  f"{c8.gmacs_per_s:.1f} GMAC/s ({c8.blas})")
    if json_out:
        out.print(f"wrote {json_out}")


def _print_interleaved(doc, files, threshold, json_out):
    """`bench A B --interleave`: the compare table (first file = baseline); exit 1 on a regression."""
    from edgekit.api import NothingCompared, compare_bench
    from edgekit.benchmarking.compare import has_regression, rich_table

    if json_out:
        out.print(f"wrote {json_out}")
    try:
        result = compare_bench(doc, files, threshold)
    except NothingCompared as e:
        out.print(rich_table(e.result))
        raise
    out.print(rich_table(result))
    if has_regression(result):
        err.print(f"[red]regression[/]: slower than {Path(files[0]).name} by more than {threshold:.0%} with confidence")
        raise typer.Exit(1)



@app.command()
def compare(files: List[Path] = typer.Argument(..., help="two or more `edgekit bench --json` files; the first is the baseline"),
            threshold: float = typer.Option(0.10, help="a significant slow-down beyond this fraction fails (exit 1)"),
            markdown: Optional[Path] = typer.Option(None, "--markdown", help="also write the table as Markdown"),
            match: str = typer.Option("name+format+precision+runtime+threads", "--match", help="fields that pair rows, joined by '+': name (artifact file stem), format, precision, runtime, threads; e.g. format+precision+runtime+threads to compare a renamed file")):
    """Side-by-side latency with bootstrap confidence intervals; exits 1 on a significant regression,
    and when nothing could be compared (no row paired, or a paired row without raw timings)."""
    from edgekit.api import NothingCompared
    from edgekit.api import compare as _compare
    from edgekit.benchmarking.compare import has_regression

    try:
        result = _compare(files, threshold=threshold, markdown=markdown, match=match)
    except NothingCompared as e:
        _print_compare(e.result)  # what did not pair says why
        raise
    _print_compare(result)
    if has_regression(result):
        err.print(f"[red]regression[/]: slower by more than {threshold:.0%} with confidence")
        raise typer.Exit(1)


def _print_compare(result) -> None:
    from edgekit.benchmarking.compare import rich_table

    if result.rows:
        out.print(rich_table(result))
    for u in result.unmatched:
        out.print(f"[yellow]unmatched[/] {u}", highlight=False)
    for n in result.notes:
        out.print(f"[dim]note:[/] {n}", highlight=False)


@app.command()
def check(run_dir: Path = typer.Argument(..., help="a run bundle folder, e.g. export/mobilenet_v2-<time>")):
    """Verify a bundle against its manifest (every file present, same size and sha256)."""
    from edgekit.api import check as _check

    done = _check(run_dir)
    out.print(f"{run_dir}: every file matches manifest.json ({len(done.files)} files)")


