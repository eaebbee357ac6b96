"""`edgekit bench`, `compare` and `check`: latency, regression gates and bundle integrity (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from edgekit.cli._app import (_file_column, _fmt, _print_gpu, _warn, app, err, out)
from edgekit.errors import EdgekitError


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

    from edgekit._io import write_json
    from edgekit.benchmarking.harness import bench as _bench
    from edgekit.benchmarking.harness import machine_info, parse_threads
    from edgekit.records import BenchFile

    counts = parse_threads(threads)
    if interleave:
        return _bench_interleaved(files, runtime, counts, runs, warmup, rounds, threshold, xnnpack, json_out)
    results = []
    with Progress(console=err, transient=True) as prog:
        for f in files:
            opts = {"xnnpack": False} if (not xnnpack and (runtime or "litert") == "litert" and f.suffix == ".tflite") else {}
            for t in counts:
                task = prog.add_task(f"{f.name} ({t} thread{'s' if t > 1 else ''})", total=runs)
                results.append(_bench(f, runtime, t, runs, warmup, progress=lambda i, n, k=task: prog.update(k, completed=i),
                                      roofline=roofline, macs=macs, profile=profile, **opts))
    table = Table(_file_column(), "runtime", "precision", "threads", "init", "first", "mean", "p50", "p90", "p99", "std",
                  "peak MB", "GMAC/s", "of ceiling", title="latency (ms)")
    for r in results:
        lat, mem, roof = r.latency_ms, r.memory_mb or {}, r.roofline or {}
        table.add_row(r.name, r.runtime + ("" if r.options.get("xnnpack", True) else " (no xnnpack)"),
                      r.precision, str(r.threads), *(_fmt(getattr(lat, k)) for k in ("init", "first", "mean", "p50", "p90", "p99", "std")),
                      _fmt(mem.get("peak_delta"), "{:.1f}"), _fmt(roof.get("gmacs_per_s"), "{:.2f}"),
                      _fmt(roof.get("fraction"), "{:.0%}"))
    out.print(table)
    for r in results:
        if r.options.get("xnnpack_fallback"):
            _warn(f"{r.name}: {r.options['xnnpack_fallback']}")
    _print_gpu(files, results)
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
        doc = BenchFile(machine=machine_info(), run=_run_stamp(), results=results)
        if roofline:
            from edgekit.benchmarking.ceiling import int8_matmul_ceiling, matmul_ceiling

            doc.set(ceiling=matmul_ceiling().model_dump(), ceiling_int8=int8_matmul_ceiling().model_dump())
        write_json(json_out, doc.model_dump())
        out.print(f"wrote {json_out}")


def _run_stamp(**extra) -> dict:
    """One id per `edgekit bench` run: `compare` says when two files come from different runs."""
    import datetime
    import uuid

    return {"id": uuid.uuid4().hex, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **extra}


def _bench_interleaved(files, runtime, counts, runs, warmup, rounds, threshold, xnnpack, json_out):
    """`bench A B --interleave`: alternating rounds in one run, then the compare table (first file = baseline)."""
    from rich.progress import Progress

    from edgekit._io import write_json
    from edgekit.benchmarking.compare import compare_docs, gate_problems, has_regression, rich_table
    from edgekit.benchmarking.harness import machine_info
    from edgekit.benchmarking.interleave import bench_interleaved
    from edgekit.records import BenchFile

    if threshold <= 0:
        raise EdgekitError(f"--threshold must be a positive fraction (0.10 = 10%), got {threshold}.")
    opts = {} if xnnpack else {"xnnpack": False}
    machine, stamp, results = machine_info(), _run_stamp(interleaved=True), []
    with Progress(console=err, transient=True) as prog:
        for t in counts:
            task = prog.add_task(f"{len(files)} files interleaved ({t} thread{'s' if t > 1 else ''})", total=runs)
            results += bench_interleaved(files, runtime, t, runs, warmup, rounds,
                                         progress=lambda i, n, k=task: prog.update(k, completed=i), **opts)
    if json_out:
        write_json(json_out, BenchFile(machine=machine, run=stamp, results=results).model_dump())
        out.print(f"wrote {json_out}")
    # one in-memory bench document per file (as its JSON), all from this run; rows paired by thread count
    docs = [(Path(f), BenchFile(machine=machine, run=stamp,
                                results=[r for r in results if r.artifact == str(f)]).model_dump()) for f in files]
    result = compare_docs(docs, threshold, match="threads")
    out.print(rich_table(result))
    problems = gate_problems(result)
    if problems:
        raise EdgekitError(problems[0])
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
    from edgekit._io import write_text
    from edgekit.benchmarking.compare import compare as _compare
    from edgekit.benchmarking.compare import gate_problems, has_regression, rich_table, to_markdown

    if len(files) < 2:
        raise EdgekitError("compare needs at least two bench JSON files (baseline first).")
    if threshold <= 0:
        raise EdgekitError(f"--threshold must be a positive fraction (0.10 = 10%), got {threshold}.")
    result = _compare(files, threshold=threshold, match=match)
    if result.rows:
        out.print(rich_table(result))
    for u in result.unmatched:
        out.print(f"[yellow]unmatched[/] {u}", highlight=False)
    for n in result.notes:
        out.print(f"[dim]note:[/] {n}", highlight=False)
    if markdown:
        write_text(markdown, to_markdown(result))
    problems = gate_problems(result)
    if problems:
        raise EdgekitError(problems[0] if len(problems) == 1 else " ".join(problems))
    if has_regression(result):
        err.print(f"[red]regression[/]: slower by more than {threshold:.0%} with confidence")
        raise typer.Exit(1)


@app.command()
def check(run_dir: Path = typer.Argument(..., help="a run bundle folder, e.g. export/mobilenet_v2-<time>")):
    """Verify a bundle against its manifest (every file present, same size and sha256)."""
    from edgekit.report.manifest import check_bundle

    problems = check_bundle(run_dir)
    if problems:
        for p in problems:
            err.print(f"[red]{p}[/]", highlight=False)
        raise EdgekitError(f"{run_dir}: {len(problems)} problem(s); the bundle does not match its manifest.")
    out.print(f"{run_dir}: every file matches manifest.json")


