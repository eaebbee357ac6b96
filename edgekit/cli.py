"""The `edgekit` command: a thin Typer layer over the Python API.

Heavy imports (TensorFlow, converters, runtimes) happen inside the commands, so
`edgekit --help` answers at once and `edgekit bench model.tflite` never loads TensorFlow.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from edgekit.errors import EXIT_INTERNAL, EdgekitError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="rich",
                  help="Keras models to verified, benchmarked TFLite and ONNX artifacts for phones, MCUs and NPUs.")
# Tables stay readable when output goes to a file or CI log (Rich would assume 80 columns).
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, soft_wrap=True)


def _parse_params(items: list[str] | None) -> dict:
    """`--param alpha=0.35 --param pooling=avg` to {"alpha": 0.35, "pooling": "avg"}."""
    params = {}
    for item in items or []:
        if "=" not in item:
            raise EdgekitError(f"--param expects key=value, got {item!r} (e.g. --param alpha=0.35).")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = {"true": True, "false": False, "none": None}.get(raw.lower(), raw)
        if isinstance(value, list):
            value = tuple(value)
        params[key.strip()] = value
    return params


def _fmt(v, spec="{:.3f}"):
    return "—" if v is None else spec.format(v)


def _size(n):
    return f"{n / 1024:.1f} KB" if n < 1 << 20 else f"{n / (1 << 20):.2f} MB"


@app.command()
def models(pattern: str = typer.Argument("*", help="shell-style filter, e.g. 'mobilenet*'"),
           macs: bool = typer.Option(True, help="build each model at its default input to count params and MACs"),
           latency: bool = typer.Option(False, "--latency", help="add measured p50 latencies (LiteRT fp32/int8, onnxruntime fp32, 1 thread) and the TFLM arena from benchmarks/results/zoo_latency.json")):
    """List the registered models with their task, default input, parameters and multiply-adds."""
    from edgekit.models import count_macs, count_params, create_model, get_spec, list_models

    lat = _zoo_latency() if latency else {}
    extra = ("TFLite fp32 ms", "TFLite int8 ms", "ONNX fp32 ms", "TFLM arena") if latency else ()
    table = Table("model", "task", "input", "params", "MACs", *extra, "paper", title="edgekit models")
    for name in list_models(pattern):
        spec = get_spec(name)
        p = m = None
        if macs:
            net = create_model(name, input_shape=spec.default_input_shape)
            p, m = count_params(net), count_macs(net)
        r = lat.get(name, {})
        cells = (_fmt(r.get("tflite_fp32_ms"), "{:.3f}"), _fmt(r.get("tflite_int8_ms"), "{:.3f}"),
                 _fmt(r.get("onnx_fp32_ms"), "{:.3f}"),
                 _size(r["tflm_arena_bytes"]) if r.get("tflm_arena_bytes") else "—") if latency else ()
        table.add_row(name, spec.task, "x".join(map(str, spec.default_input_shape)), _fmt(p, "{:,}"),
                      "—" if m is None else f"{m / 1e6:,.1f} M", *cells, spec.paper.split(",")[0])
    out.print(table)
    if latency:
        out.print(f"[dim]latency: {_ZOO_LATENCY.name} ({len(lat)} models measured; — = not measured or failed, "
                  "see the file)[/]")


_ZOO_LATENCY = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "zoo_latency.json"


def _zoo_latency() -> dict:
    """Rows of benchmarks/results/zoo_latency.json by model (written by benchmarks/zoo_latency.py)."""
    try:
        doc = json.loads(_ZOO_LATENCY.read_text())
        return {r["model"]: r for r in doc["rows"] if not r.get("error")}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EdgekitError(f"no readable zoo latency table at {_ZOO_LATENCY} ({type(e).__name__}); "
                           "run `python benchmarks/zoo_latency.py` first.") from None


@app.command()
def train(ctx: typer.Context,
          name: str = typer.Argument(..., help="registered model name (see `edgekit models`)"),
          data: str = typer.Option(..., "--data", help="'digits', an image folder (one subfolder per class) or a .zip/.tar/.tar.gz of one, an .npz with x and y, or a built-in for another task: diabetes (regression), digits_flat, token_order (classification), digits_anomaly (anomaly), digits_pairs (embedding), digits_gen (generation)"),
          param: Optional[List[str]] = typer.Option(None, "--param", help="model knob as key=value, repeatable"),
          epochs: Optional[int] = typer.Option(None, help="maximum epochs (early stopping may end sooner)"),
          batch_size: Optional[int] = typer.Option(None, help="batch size"),
          learning_rate: Optional[float] = typer.Option(None, "--lr", help="Adam learning rate"),
          seed: int = typer.Option(0, help="seed for splits, initialization and shuffling"),
          config: Optional[Path] = typer.Option(None, "--config", help="training settings from a TOML or JSON file (by suffix) with the keys epochs, batch_size, learning_rate, patience, seed, augment, tensorboard; e.g. a train.toml holding `epochs = 30` and `augment = false` on separate lines. Flags given on the command line override the file"),
          out_dir: Path = typer.Option(..., "--out", help="folder for model.keras, metrics.json and TensorBoard logs")):
    """Train a model from the registry; saves model.keras with its normalization and labels."""
    from edgekit.config import load_config
    from edgekit.train import TrainConfig

    given, defaults = _given(ctx, dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed))
    cfg = load_config(config, TrainConfig, overrides=given, defaults=defaults, flags={"learning_rate": "--lr"})
    from edgekit.train import train as _train  # TensorFlow starts here, after the settings are checked

    res = _train(name, data, params=_parse_params(param), config=cfg, out=out_dir, console=err)
    out.print(f"test [bold]{res.headline}[/]; model: {res.model_path}")


def _given(ctx: typer.Context, values: dict, to: dict[str, tuple[str, ...]] | None = None) -> tuple[dict, dict]:
    """Split option values into (typed on the command line, the command's defaults) by config key.

    ``values`` is keyed by option (parameter) name; ``to`` maps an option to the config keys
    it sets (``--epochs`` of compress sets four). ``None`` values are dropped. With
    ``--config``, the file sits between the two: typed flags override it, defaults do not.
    """
    given, defaults = {}, {}
    for k, v in values.items():
        if v is None:
            continue
        # click's ParameterSource enum (typer vendors click, so compare by name)
        explicit = getattr(ctx.get_parameter_source(k), "name", None) in ("COMMANDLINE", "ENVIRONMENT")
        for key in (to or {}).get(k, (k,)):
            (given if explicit else defaults)[key] = v
    return given, defaults


@app.command()
def export(model: Path = typer.Argument(..., help=".keras (Keras 3 or tf_keras), .h5 or SavedModel folder"),
           to: str = typer.Option("tflite", "--to", help="tflite | onnx | mcu (int8 C array + TFLM-measured arena)"),
           precision: str = typer.Option("fp32", help="fp32 | int8 (tflite also fp16, dynamic)"),
           data: Optional[str] = typer.Option(None, "--data", help="calibration data for int8 (training split is used)"),
           out_dir: Path = typer.Option(Path("export"), "--out", help="output folder"),
           opset: Optional[int] = typer.Option(None, help="ONNX opset (default 17)"),
           unsafe: bool = typer.Option(False, "--unsafe", help="allow Lambda layers' code in .keras files (trusted files only)")):
    """Convert any Keras model to TFLite or ONNX and record it (size, sha256, input spec, provenance)."""
    from edgekit.convert import export as _export
    from edgekit.convert.formats import check_format

    if to == "mcu":
        from edgekit.convert import export_mcu

        art, mcu = export_mcu(model, data, out=out_dir, unsafe=unsafe)
        agree = "—" if mcu.tflm_agreement is None else f"{mcu.tflm_agreement:.4f}"
        out.print(f"{art.path}  int8  {_size(art.bytes)}; TFLM arena {mcu.arena_bytes:,} bytes, flash "
                  f"{mcu.flash_bytes:,} bytes, ops {', '.join(mcu.ops)}; TFLM/LiteRT top-1 agreement {agree}")
        if mcu.unsupported_ops:
            out.print(f"[red]ops TFLM lacks:[/] {', '.join(mcu.unsupported_ops)}")
        out.print(f"bundle: {out_dir} (model_data.cc, model_data.h, model_ops.h, mcu.json)")
        return
    check_format(to, precision)
    art = _export(model, to=to, precision=precision, data=data, out=out_dir, opset=opset, unsafe=unsafe)
    q = f", input scale {art.input.scale:.6g} zero point {art.input.zero_point}" if art.input.scale else ""
    out.print(f"{art.path}  {art.format} {art.precision}  {_size(art.bytes)}  sha256 {art.sha256[:12]}…{q}")


@app.command()
def verify(artifact: Path = typer.Argument(..., help=".tflite or .onnx file"),
           reference: Path = typer.Option(..., "--reference", help="the Keras model it came from"),
           data: Optional[str] = typer.Option(None, "--data", help="use this dataset's test split (else random inputs)"),
           seed: int = typer.Option(0, help="split / random-input seed")):
    """Run an artifact in its real runtime and compare its outputs with the Keras model."""
    from edgekit.verify import verify as _verify

    r = _verify(artifact, reference, data=data, seed=seed)
    p = r.parity
    out.print(f"{artifact.name} vs {reference.name} on {r.n} {r.source}: cosine {p.cosine:.6f}, "
              f"max abs {p.max_abs:.3g}, top-1 agreement {_fmt(p.top1_agreement, '{:.4f}')}"
              + (f", accuracy {r.accuracy:.4f} (reference {r.reference_accuracy:.4f})" if r.accuracy is not None else ""))


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
          json_out: Optional[Path] = typer.Option(None, "--json", help="write machine info and raw timings here")):
    """Time single-sample inference: init, first run, mean, p50, p90, p99, std (ms), peak memory, roofline."""
    from rich.progress import Progress

    from edgekit._io import write_json
    from edgekit.bench.harness import bench as _bench
    from edgekit.bench.harness import machine_info, parse_threads

    counts = parse_threads(threads)
    results = []
    with Progress(console=err, transient=True) as prog:
        for f in files:
            opts = {"xnnpack": False} if (not xnnpack and (runtime or "litert") == "litert" and f.suffix == ".tflite") else {}
            for t in counts:
                task = prog.add_task(f"{f.name} ({t} thread{'s' if t > 1 else ''})", total=runs)
                results.append(_bench(f, runtime, t, runs, warmup, progress=lambda i, n, k=task: prog.update(k, completed=i),
                                      roofline=roofline, macs=macs, profile=profile, **opts))
    table = Table("file", "runtime", "precision", "threads", "init", "first", "mean", "p50", "p90", "p99", "std",
                  "peak MB", "GMAC/s", "of ceiling", title="latency (ms)")
    for r in results:
        lat, mem, roof = r["latency_ms"], r.get("memory_mb") or {}, r.get("roofline") or {}
        table.add_row(Path(r["artifact"]).name, r["runtime"] + ("" if r["options"].get("xnnpack", True) else " (no xnnpack)"),
                      r["precision"], str(r["threads"]), *(_fmt(lat[k]) for k in ("init", "first", "mean", "p50", "p90", "p99", "std")),
                      _fmt(mem.get("peak_delta"), "{:.1f}"), _fmt(roof.get("gmacs_per_s"), "{:.2f}"),
                      _fmt(roof.get("fraction"), "{:.0%}"))
    out.print(table)
    if profile:
        from edgekit.bench.profile import by_op_type

        for r in results:
            prof = r["profile"]
            pt = Table("op", "count", "ms", "share", title=f"{Path(r['artifact']).name}, {r['threads']} thread(s)",
                       caption=f"per-op sum {prof['sum_ms']:.3f} ms, whole model {prof['total_ms']:.3f} ms")
            for a in by_op_type(prof)[:10]:
                pt.add_row(a["op"], str(a["count"]), f"{a['ms']:.4f}", f"{a['share']:.0%}")
            out.print(pt)
        out.print(f"[dim]{results[0]['profile']['method']}[/]" if results else "")
    if roofline and any(r.get("roofline") for r in results):
        from edgekit.bench.ceiling import int8_matmul_ceiling, matmul_ceiling

        c, c8 = matmul_ceiling(), int8_matmul_ceiling()
        out.print(f"ceilings (\"of ceiling\" is against the row's own precision): float32 sgemm {c.n}², 1 thread: "
                  f"{c.gmacs_per_s:.1f} GMAC/s ({c.blas}); int8 MatMulInteger {c8.n}², 1 thread: "
                  f"{c8.gmacs_per_s:.1f} GMAC/s ({c8.blas})")
    if json_out:
        doc = {"machine": machine_info(), "results": results}
        if roofline:
            from edgekit.bench.ceiling import int8_matmul_ceiling, matmul_ceiling

            doc["ceiling"] = matmul_ceiling().model_dump()
            doc["ceiling_int8"] = int8_matmul_ceiling().model_dump()
        write_json(json_out, doc)
        out.print(f"wrote {json_out}")


@app.command()
def demo(out_dir: Optional[Path] = typer.Option(None, "--out", help="bundle folder (default export/<model>-<time>)"),
         epochs: int = typer.Option(60, help="maximum training epochs")):
    """MobileNetV2 (alpha 0.35, 32x32) on the built-in digits: train, export, verify, bench, report."""
    from edgekit.pipeline import run

    report = run("mobilenet_v2", "digits", params={"alpha": 0.35}, out=out_dir, epochs=epochs, console=err)
    _print_report(report)


@app.command()
def tune(ctx: typer.Context,
         name: str = typer.Argument(..., help="registered model to search (mobilenet*, resnet*, mlp, cnn, vit_tiny, ...)"),
         data: str = typer.Option("digits", "--data", help="'digits', an image folder (or a .zip/.tar/.tar.gz of one) or an .npz with x and y"),
         trials: int = typer.Option(10, "--trials", help="trials in total (rerunning the command resumes up to this)"),
         max_latency_ms: Optional[float] = typer.Option(None, "--max-latency-ms", help="LiteRT p50 budget, 1 thread"),
         max_flash_kb: Optional[float] = typer.Option(None, "--max-flash-kb", help="model file size budget"),
         max_ram_kb: Optional[float] = typer.Option(None, "--max-ram-kb", help="TFLM tensor arena budget"),
         oracle: str = typer.Option("random", "--oracle", help="random | bayesian | hyperband"),
         workers: int = typer.Option(1, "--workers", help="parallel worker processes, each pinned to its own core"),
         precision: str = typer.Option("int8", "--precision", help="int8 | fp32 | fp16 | dynamic (TFLite)"),
         epochs: int = typer.Option(20, "--epochs", help="epochs per trial (Hyperband: the most a trial gets)"),
         param: Optional[List[str]] = typer.Option(None, "--param", help="pin a hyperparameter, key=value, repeatable"),
         seed: int = typer.Option(0, help="seed for splits, initialization and the oracle"),
         config: Optional[Path] = typer.Option(None, "--config", help="search settings and budgets from a TOML or JSON file (by suffix): keys trials, oracle, epochs, patience, precision, workers, seed, augment, bench_runs, bench_warmup, measure_arena, max_latency_ms, max_flash_kb, max_ram_kb and a table fixed (pinned hyperparameters, merged with --param). Flags given on the command line override the file"),
         out_dir: Path = typer.Option(..., "--out", help="search folder: trials.json, pareto.json/png, best/ bundle")):
    """Hardware-aware search: train, export and measure every trial; keep the best model within budget."""
    from edgekit.config import load_config
    from edgekit.tune import Budgets, TuneConfig
    from edgekit.tune import tune as _tune

    given, defaults = _given(ctx, dict(trials=trials, oracle=oracle, workers=workers, precision=precision, epochs=epochs,
                                       seed=seed, param=_parse_params(param), max_latency_ms=max_latency_ms,
                                       max_flash_kb=max_flash_kb, max_ram_kb=max_ram_kb), to={"param": ("fixed",)})
    cfg, budgets = load_config(config, (TuneConfig, Budgets), overrides=given, defaults=defaults,
                               flags={"fixed": "--param"}, merge=("fixed",))
    res = _tune(name, data, out=out_dir, config=cfg, budgets=budgets, console=err)
    pareto = {t["id"] for t in res.pareto}
    table = Table("trial", "status", "knobs", "res", "val acc", "p50 ms", "size", "arena", "feasible", "Pareto",
                  title=f"{name}: {len(res.trials)} trials")
    for t in res.trials:
        table.add_row(str(t["id"]), t["status"], json.dumps(t.get("knobs") or {}), str(t.get("resolution") or ""),
                      _fmt(t["val_accuracy"], "{:.4f}"), _fmt(t["latency_ms"], "{:.4f}"),
                      _size(t["bytes"]) if t["bytes"] else "—", _size(t["arena_bytes"]) if t["arena_bytes"] else "—",
                      "yes" if t["feasible"] else "no", "*" if t["id"] in pareto else "")
    out.print(table)
    b = res.best
    out.print(f"best: trial {b['id']}, val accuracy [bold]{b['val_accuracy']:.4f}[/], {b['latency_ms']:.4f} ms, "
              f"{_size(b['bytes'])}; bundle: [bold]{res.bundle}[/]; report: {res.out / 'report.md'}")


@app.command()
def compare(files: List[Path] = typer.Argument(..., help="two or more `edgekit bench --json` files; the first is the baseline"),
            threshold: float = typer.Option(0.10, help="a significant slow-down beyond this fraction fails (exit 1)"),
            markdown: Optional[Path] = typer.Option(None, "--markdown", help="also write the table as Markdown")):
    """Side-by-side latency with bootstrap confidence intervals; exits 1 on a significant regression."""
    from edgekit._io import write_text
    from edgekit.bench.compare import compare as _compare
    from edgekit.bench.compare import has_regression, rich_table, to_markdown

    if len(files) < 2:
        raise EdgekitError("compare needs at least two bench JSON files (baseline first).")
    if threshold <= 0:
        raise EdgekitError(f"--threshold must be a positive fraction (0.10 = 10%), got {threshold}.")
    result = _compare(files, threshold=threshold)
    out.print(rich_table(result))
    if markdown:
        write_text(markdown, to_markdown(result))
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


def _print_report(report: dict):
    m = report["model"]
    table = Table("file", "format", "precision", "size", "accuracy", "cosine", "top-1 agree", "p50 ms", "p99 ms",
                  title=f"{m['name']} {m.get('knobs') or ''}: {m['params']:,} params, {m['macs'] / 1e6:.1f} M MACs")
    for a in report["artifacts"]:
        par, lat = a.get("parity"), a.get("latency_ms")
        table.add_row(Path(a["path"]).name, a["format"], a["precision"], _size(a["bytes"]) if a["bytes"] else "—",
                      _fmt(a["accuracy"], "{:.4f}"), _fmt(par and par["cosine"], "{:.6f}") if par else "reference",
                      _fmt(par and par["top1_agreement"], "{:.4f}") if par else "", _fmt(lat and lat["p50"]),
                      _fmt(lat and lat["p99"]))
    out.print(table)
    for a in report["artifacts"]:
        if a.get("error"):
            out.print(f"[red]{Path(a['path']).name}[/]: {a['error']}")
    out.print(f"bundle: [bold]{report['run_dir']}[/] (report.md, report.html, report.json)")


@app.command()
def compress(ctx: typer.Context,
             model: Path = typer.Argument(..., help="tf_keras .keras or .h5 model to compress"),
             data: str = typer.Option(..., "--data", help="'digits', an image folder (or a .zip/.tar/.tar.gz of one) or an .npz (train split fine-tunes and calibrates, test split scores)"),
             out_dir: Path = typer.Option(..., "--out", help="folder for every variant's file, compression.json and compression.md"),
             only: Optional[List[str]] = typer.Option(None, "--only", help="run only these variants (repeatable)"),
             skip: Optional[List[str]] = typer.Option(None, "--skip", help="skip these variants (repeatable)"),
             max_drop: float = typer.Option(0.01, "--max-drop", help="accuracy budget (fraction) of the mixed-precision fallback"),
             sparsity: float = typer.Option(0.75, "--sparsity", help="magnitude pruning target"),
             channel_ratio: float = typer.Option(0.5, "--channel-ratio", help="fraction of prunable channels removed"),
             epochs: Optional[int] = typer.Option(None, "--epochs", help="fine-tuning epochs for pruning, channel pruning and QAT"),
             seed: int = typer.Option(0, help="split and calibration seed"),
             config: Optional[Path] = typer.Option(None, "--config", help="compression settings from a TOML or JSON file (by suffix) with the keys of edgekit.compress.CompressConfig (sparsity, prune_epochs, clusters, qat_epochs, channel_ratio, max_drop, calibration, ...). Flags given on the command line override the file")):
    """PTQ, QAT, pruning, clustering, channel pruning and mixed precision: the size/accuracy/speed table.

    Variants: ptq_dynamic, ptq_fp16, ptq_int8, ptq_int8_per_tensor, ptq_int16x8, onnx_int8, prune,
    prune_per_tensor, prune_2of4, cluster, qat, prune_qat, cluster_qat, channel, channel_int8, mixed.
    """
    from edgekit.compress import CompressConfig
    from edgekit.compress import compress as _compress
    from edgekit.config import load_config

    split = lambda xs: [n.strip() for x in (xs or []) for n in x.split(",") if n.strip()] or None  # noqa: E731
    epoch_keys = ("prune_epochs", "qat_epochs", "channel_epochs", "cluster_epochs")
    given, defaults = _given(ctx, dict(max_drop=max_drop, sparsity=sparsity, channel_ratio=channel_ratio, seed=seed,
                                       epochs=epochs), to={"epochs": epoch_keys})
    cfg = load_config(config, CompressConfig, overrides=given, defaults=defaults,
                      flags=dict.fromkeys(epoch_keys, "--epochs"))
    rep = _compress(str(model), data, out=out_dir, only=split(only), skip=split(skip), max_drop=cfg.max_drop,
                    config=cfg, console=err)
    b = rep.baseline
    table = Table("variant", "precision", "size", "× fp32", "gzip × fp32", "sparsity", "accuracy", "drop",
                  "p50 ms", "speedup", "top-1 agree", title=f"edgekit compress {model.name}")
    table.add_row("baseline", "fp32", _size(b["bytes"]), "1.000", "", _fmt(b.get("sparsity"), "{:.2f}"),
                  _fmt(b["accuracy"], "{:.4f}"), "", _fmt(b["p50_ms"]), "1.00×", "")
    for v in rep.variants:
        if v.get("error"):
            table.add_row(v["name"], f"[red]failed: {v['error']}[/]", *[""] * 9)
            continue
        table.add_row(v["name"], v["precision"], _size(v["bytes"]), f"{v['bytes'] / b['bytes']:.3f}",
                      f"{v['gzip_bytes'] / b['bytes']:.3f}", _fmt(v["sparsity"], "{:.2f}"),
                      _fmt(v["accuracy"], "{:.4f}"), f"{v['drop'] * 100:+.2f} pt", _fmt(v["p50_ms"]),
                      f"{v['speedup']:.2f}×", _fmt((v["parity"] or {}).get("top1_agreement"), "{:.4f}"))
    out.print(table)
    mixed = next((v for v in rep.variants if v["name"] == "mixed" and not v.get("error")), None)
    if mixed:
        out.print(f"mixed precision: layers kept in float: {', '.join(mixed['float_layers']) or 'none'}")
    out.print(f"{rep.json_path}  {rep.md_path}")


def main():
    try:
        app(standalone_mode=True)
    except EdgekitError as e:  # pragma: no cover - typer handles SystemExit itself
        err.print(f"error: {e}")
        sys.exit(1)


def _wrap_commands():
    """Every command maps EdgekitError to one line and exit 1; other errors keep a traceback in a log."""
    import functools

    for info in app.registered_commands:
        fn = info.callback

        @functools.wraps(fn)
        def wrapper(*a, __fn=fn, **kw):
            try:
                return __fn(*a, **kw)
            except (typer.Exit, typer.Abort):
                raise
            except EdgekitError as e:
                err.print(f"[red]error:[/] {e}", highlight=False)
                raise typer.Exit(1)
            except KeyboardInterrupt:
                err.print("interrupted")
                raise typer.Exit(130)
            except Exception as e:  # a bug: keep the traceback for the report, show one line
                import tempfile
                import traceback

                log = Path(tempfile.gettempdir()) / "edgekit-error.log"
                log.write_text(traceback.format_exc())
                err.print(f"[red]internal error:[/] {type(e).__name__}: {str(e)[:200]} (traceback in {log})",
                          highlight=False)
                raise typer.Exit(EXIT_INTERNAL)

        info.callback = wrapper


_wrap_commands()

if __name__ == "__main__":
    main()
