"""`edgekit train`, `tune`, `compress` and `demo`: the commands that train (TensorFlow starts inside them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from edgekit.cli._app import (_INPUT_RANGE_HELP, _MEAN_HELP, _STD_HELP, _file_column, _parse_params, _typed, app, err,
                              out)
from edgekit.compression.variants import variant_help
from edgekit.formats import FORMATS
from edgekit.units import format_bytes, format_number


@app.command()
def train(ctx: typer.Context,
          name: Optional[str] = typer.Argument(None, help="registered model name (see `edgekit models`); without it, the model `edgekit suggest` picks for --data"),
          data: str = typer.Option(..., "--data", help="'digits', an image folder (one subfolder per class) or a .zip/.tar/.tar.gz of one, an .npz with x and y, a folder of .wav or .txt class subfolders, a .csv (a table with --target, or text for a sequence model), or a built-in for another task: diabetes (regression), digits_flat, token_order (classification), digits_anomaly (anomaly), digits_pairs (embedding), digits_gen (generation)"),
          param: Optional[List[str]] = typer.Option(None, "--param", help="model knob as key=value, repeatable"),
          epochs: Optional[int] = typer.Option(None, help="maximum epochs (early stopping may end sooner)"),
          batch_size: Optional[int] = typer.Option(None, help="batch size"),
          learning_rate: Optional[float] = typer.Option(None, "--lr", help="Adam learning rate"),
          seed: int = typer.Option(0, help="seed for splits, initialization and shuffling"),
          config: Optional[Path] = typer.Option(None, "--config", help="training settings from a TOML or JSON file (by suffix) with the keys of edgekit.training.TrainConfig (epochs, batch_size, learning_rate, patience, warmup_epochs, seed, augment, flip, colours, tensorboard, optimizer, momentum, nesterov, weight_decay, schedule, decay_rate, label_smoothing, loss, huber_delta, freeze_backbone, unfreeze, unfreeze_learning_rate, unfreeze_epochs); e.g. a train.toml holding `epochs = 30` and `augment = false` on separate lines. Flags given on the command line override the file"),
          out_dir: Path = typer.Option(..., "--out", help="folder for model.keras, metrics.json and TensorBoard logs"),
          target: Optional[str] = typer.Option(None, "--target", help="CSV data: the column to predict (a table), or the label column of a text CSV; without a model name and with a folder, an MCU board (`edgekit targets`) the suggested model must suit"),
          task: Optional[str] = typer.Option(None, "--task", help="CSV table: classification | regression (default: from the target column)"),
          frontend: Optional[List[str]] = typer.Option(None, "--frontend", help="audio folder: front-end knob as key=value, repeatable: sample_rate, clip_ms, window_ms, stride_ms, fft_length, mel_bins, num_mfccs (0: log-mel), lower_hz, upper_hz"),
          audio_augment: Optional[List[str]] = typer.Option(None, "--audio-augment", help="audio folder: augmentation as key=value, repeatable: copies (extra copies of each training clip), shift_ms, snr_db, gain_db, seed"),
          input_shape: Optional[str] = typer.Option(None, "--input-shape", help="model input as HxWxC, e.g. 96x96x3 (or a feature count)"),
          resolution: Optional[int] = typer.Option(None, "--resolution", help="square image side, e.g. 96 (channels: an image folder's own when the model is built for it, else the model's)"),
          weights: Optional[str] = typer.Option(None, "--weights", help="start from 'imagenet' (keras.applications' file in ~/.keras/models) or a Keras .h5 weight file (MobileNet V1/V2/V3, ResNet-50/101/152)"),
          freeze_backbone: Optional[bool] = typer.Option(None, "--freeze-backbone", help="train only the head; the backbone and its BatchNorm stay frozen"),
          unfreeze: Optional[int] = typer.Option(None, "--unfreeze", help="after the head, also train the last N backbone blocks at a tenth of the rate"),
          optimizer: Optional[str] = typer.Option(None, "--optimizer", help="adam | adamw | sgd | rmsprop"),
          momentum: Optional[float] = typer.Option(None, "--momentum", help="SGD/RMSprop momentum (0.9)"),
          nesterov: Optional[bool] = typer.Option(None, "--nesterov", help="Nesterov momentum (sgd)"),
          weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="AdamW weight decay (1e-4)"),
          schedule: Optional[str] = typer.Option(None, "--schedule", help="plateau | cosine | exponential | constant"),
          label_smoothing: Optional[float] = typer.Option(None, "--label-smoothing", help="classification label smoothing, e.g. 0.1"),
          loss: Optional[str] = typer.Option(None, "--loss", help="regression loss: mse | mae | huber"),
          huber_delta: Optional[float] = typer.Option(None, "--huber-delta", help="Huber delta (1.0)")):
    """Train a model from the registry (without a name: the one `edgekit suggest` picks); saves model.keras, model.json and report.json."""
    from edgekit.api import train as _train

    res = _train(name, data, out=out_dir, params=_parse_params(param), config=config, target=target, task=task,
                 frontend=_parse_params(frontend) or None, audio_augment=_parse_params(audio_augment) or None,
                 input_shape=input_shape, resolution=resolution, weights=weights, console=err,
                 **_typed(ctx, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                          freeze_backbone=freeze_backbone, unfreeze=unfreeze, optimizer=optimizer,
                          momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, schedule=schedule,
                          label_smoothing=label_smoothing, loss=loss, huber_delta=huber_delta))
    out.print(f"test [bold]{res.headline}[/]; model: {res.model_path}")


@app.command()
def suggest(data: str = typer.Option(..., "--data", help="an image, audio (.wav) or text (.txt) folder with one subfolder per class, a .csv table or an .npz"),
            target: Optional[str] = typer.Option(None, "--target", help="a CSV table's column to predict; for a folder, an MCU board (`edgekit targets`) the model must suit")):
    """Pick a registry model and input size for your data, say why, and print the `edgekit train` line."""
    from edgekit.api import suggest as _suggest

    pick = _suggest(data, target)
    out.print(f"{pick.model} {pick.knobs_text()}", highlight=False)
    out.print(f"why: {pick.reason}", highlight=False)
    if pick.caution:
        out.print(f"warning: {pick.caution}", highlight=False)
    out.print(pick.command(data) + " --out runs/mine", highlight=False)


@app.command()
def demo(out_dir: Optional[Path] = typer.Option(None, "--out", help="bundle folder (default export/<model>-<time>)"),
         epochs: int = typer.Option(60, help="maximum training epochs"),
         target: str = typer.Option("nucleo-l4r5zi", "--target", help="board of the MCU latency estimate (`edgekit targets`)"),
         model: str = typer.Option("mobilenet_v2", "--model", help="registered model of any task: classification, regression (mlp_regressor on diabetes), anomaly (autoencoder_dense on digits_anomaly), embedding (siamese on digits_pairs), generation"),
         data: str = typer.Option("digits", "--data", help="dataset of the model's task (see `edgekit train --help`)"),
         param: Optional[List[str]] = typer.Option(None, "--param", help="model knob as key=value, repeatable (default for mobilenet_v2: alpha=0.35)"),
         input_shape: Optional[str] = typer.Option(None, "--input-shape", help="model input as HxWxC, e.g. 96x96x3"),
         resolution: Optional[int] = typer.Option(None, "--resolution", help="square image side, e.g. 96")):
    """Train, export, verify, bench and report one model (default: MobileNetV2 0.35, 32x32, on the built-in digits)."""
    from edgekit.api import demo as _demo

    report = _demo(out=out_dir, epochs=epochs, target=target, model=model, data=data,
                   params=_parse_params(param) or None, input_shape=input_shape, resolution=resolution, console=err)
    _print_report(report)
    for f in report.failures:
        if not f.step.startswith("export/verify/bench"):  # those rows were printed with the table
            out.print(f"[red]{f.step} {f.status}[/]: {f.error}", highlight=False)
    _exit_for_steps("the requested steps", [(f.step, f.status) for f in report.failures])


@app.command()
def tune(ctx: typer.Context,
         name: str = typer.Argument(..., help="registered model to search (mobilenet*, resnet*, mlp, cnn, vit_tiny, ...)"),
         data: str = typer.Option("digits", "--data", help="'digits', an image folder (or a .zip/.tar/.tar.gz of one) or an .npz with x and y"),
         trials: int = typer.Option(10, "--trials", help="trials in total (rerunning the command resumes up to this)"),
         max_latency_ms: Optional[float] = typer.Option(None, "--max-latency-ms", help="LiteRT p50 budget, 1 thread"),
         max_flash_kb: Optional[float] = typer.Option(None, "--max-flash-kb", help="model file size budget"),
         max_ram_kb: Optional[float] = typer.Option(None, "--max-ram-kb", help="TFLM tensor arena budget"),
         target: Optional[str] = typer.Option(None, "--target", help="MCU board: every trial carries its estimated latency there; Pareto front against it"),
         max_mcu_latency_ms: Optional[float] = typer.Option(None, "--max-mcu-latency-ms", help="budget on the estimated latency on --target"),
         oracle: str = typer.Option("random", "--oracle", help="random | bayesian | hyperband"),
         workers: int = typer.Option(1, "--workers", help="parallel worker processes, each pinned to its own core"),
         precision: str = typer.Option("int8", "--precision", help=" | ".join(FORMATS["tflite"].precisions) + " (TFLite)"),
         epochs: int = typer.Option(20, "--epochs", help="epochs per trial (Hyperband: the most a trial gets)"),
         param: Optional[List[str]] = typer.Option(None, "--param", help="pin a hyperparameter, key=value, repeatable"),
         seed: int = typer.Option(0, help="seed for splits, initialization and the oracle"),
         config: Optional[Path] = typer.Option(None, "--config", help="search settings and budgets from a TOML or JSON file (by suffix): keys trials, oracle, epochs, patience, precision, workers, seed, augment, bench_runs, bench_warmup, measure_arena, max_latency_ms, max_flash_kb, max_ram_kb and a table fixed (pinned hyperparameters, merged with --param). Flags given on the command line override the file"),
         out_dir: Path = typer.Option(..., "--out", help="search folder: trials.json, pareto.json/png, best/ bundle"),
         input_range: Optional[str] = typer.Option(None, "--input-range", help="train every trial's model on inputs in LOW,HIGH (e.g. 0,1); recorded with the best model"),
         mean: Optional[float] = typer.Option(None, "--mean", help=_MEAN_HELP),
         std: Optional[float] = typer.Option(None, "--std", help=_STD_HELP),
         input_shape: Optional[str] = typer.Option(None, "--input-shape", help="pin the input of image models, e.g. 96x96x3 (square; the search's resolution)"),
         resolution: Optional[int] = typer.Option(None, "--resolution", help="pin the square image side, e.g. 96 (else searched)")):
    """Hardware-aware search: train, export and measure every trial; keep the best model within budget."""
    from edgekit.api import tune as _tune

    res = _tune(name, data, out=out_dir, params=_parse_params(param) if param else None, config=config,
                input_range=input_range, input_shape=input_shape, resolution=resolution, console=err,
                **_typed(ctx, trials=trials, max_latency_ms=max_latency_ms, max_flash_kb=max_flash_kb,
                         max_ram_kb=max_ram_kb, target=target, max_mcu_latency_ms=max_mcu_latency_ms, oracle=oracle,
                         workers=workers, precision=precision, epochs=epochs, seed=seed, mean=mean, std=std))
    pareto = {t.id for t in res.pareto}
    table = Table("trial", "status", "knobs", "res", "val acc", "p50 ms", "size", "arena", "feasible", "Pareto",
                  title=f"{name}: {len(res.trials)} trials")
    for t in res.trials:
        table.add_row(str(t.id), t.status, json.dumps(t.knobs or {}), str(t.resolution or ""),
                      format_number(t.val_accuracy, "{:.4f}"), format_number(t.latency_ms, "{:.4f}"),
                      format_bytes(t.bytes) if t.bytes else "—", format_bytes(t.arena_bytes) if t.arena_bytes else "—",
                      "yes" if t.feasible else "no", "*" if t.id in pareto else "")
    out.print(table)
    board = next(((t.mcu_estimate or {}).get("target") for t in res.trials if t.mcu_latency_ms), None)
    if board:  # the estimate each trial carries (--target)
        err_ = next((t.mcu_estimate.get("expected_error") for t in res.trials if t.mcu_estimate), None)
        out.print("estimated on " + board + (f" (analytic, expected error ± {err_:.0%})" if err_ else "") + ": "
                  + ", ".join(f"trial {t.id} {t.mcu_latency_ms:.1f} ms" for t in res.trials if t.mcu_latency_ms))
    b = res.best
    out.print(f"best: trial {b.id}, val accuracy [bold]{b.val_accuracy:.4f}[/], {b.latency_ms:.4f} ms, "
              f"{format_bytes(b.bytes)}; bundle: [bold]{res.bundle}[/]; report: {res.out / 'report.md'}")
    _exit_for_steps("the best bundle's steps", [(f["step"], f["status"]) for f in res.report.get("bundle_failures", [])])



def _print_report(report):
    """The run's table (``report``: the :class:`~edgekit.records.RunReport` pipeline.run returns)."""
    m = report.model
    cols = (report.metric or {"columns": ["accuracy"]})["columns"]
    table = Table(_file_column(), "format", "precision", "size", *cols, "cosine", "top-1 agree", "p50 ms", "p99 ms",
                  title=f"{m.name} {m.knobs or ''}: {m.params:,} params, {(m.macs or 0) / 1e6:.1f} M MACs")
    for a in report.artifacts:
        par, lat = a.parity, a.latency_ms
        figures = a.metrics or {"accuracy": a.accuracy}
        table.add_row(a.name, a.format, a.precision, format_bytes(a.bytes) if a.bytes else "—",
                      *(format_number(figures.get(c), "{:.4f}") for c in cols),
                      format_number(par.cosine, "{:.6f}") if par else "reference",
                      format_number(par.top1_agreement, "{:.4f}") if par else "", format_number(lat and lat.p50), format_number(lat and lat.p99))
    out.print(table)
    for a in report.artifacts:
        if a.error:
            out.print(f"[red]{a.name}[/]: {a.error}")
    out.print(f"bundle: [bold]{report.run_dir}[/] (report.md, report.html, report.json)")


@app.command()
def compress(ctx: typer.Context,
             model: Path = typer.Argument(..., help="tf_keras .keras or .h5 model to compress"),
             data: str = typer.Option(..., "--data", help="'digits', an image folder (or a .zip/.tar/.tar.gz of one) or an .npz (train split fine-tunes and calibrates, test split scores)"),
             out_dir: Path = typer.Option(..., "--out", help="folder for every variant's file, compression.json and compression.md"),
             only: Optional[List[str]] = typer.Option(None, "--only", help=variant_help()),
             skip: Optional[List[str]] = typer.Option(None, "--skip", help="skip these variants (repeatable)"),
             max_drop: float = typer.Option(0.01, "--max-drop", help="accuracy budget (fraction) of the mixed-precision fallback"),
             sparsity: float = typer.Option(0.75, "--sparsity", help="magnitude pruning target"),
             channel_ratio: float = typer.Option(0.5, "--channel-ratio", help="fraction of prunable channels removed"),
             epochs: Optional[int] = typer.Option(None, "--epochs", help="fine-tuning epochs for pruning, channel pruning and QAT"),
             seed: int = typer.Option(0, help="split and calibration seed"),
             config: Optional[Path] = typer.Option(None, "--config", help="compression settings from a TOML or JSON file (by suffix) with the keys of edgekit.compression.CompressConfig (sparsity, prune_epochs, clusters, qat_epochs, channel_ratio, max_drop, calibration, ...). Flags given on the command line override the file"),
             input_range: Optional[str] = typer.Option(None, "--input-range", help=_INPUT_RANGE_HELP),
             mean: Optional[float] = typer.Option(None, "--mean", help=_MEAN_HELP),
             std: Optional[float] = typer.Option(None, "--std", help=_STD_HELP),
             input_shape: Optional[str] = typer.Option(None, "--input-shape", help="load --data at this size, e.g. 96x96x3 (must fit the model's input)"),
             resolution: Optional[int] = typer.Option(None, "--resolution", help="load --data as square images of this side, e.g. 96")):
    """PTQ, QAT, pruning, clustering, channel pruning and mixed precision: the size/accuracy/speed table.

    Variants: ptq_dynamic, ptq_fp16, ptq_int8, ptq_int8_per_tensor, ptq_int16x8, onnx_int8, prune,
    prune_per_tensor, prune_2of4, cluster, qat, prune_qat, cluster_qat, channel, channel_int8, mixed.
    """
    from edgekit.api import compress as _compress

    rep = _compress(model, data, out=out_dir, only=only, skip=skip, config=config, input_range=input_range,
                    input_shape=input_shape, resolution=resolution, console=err,
                    **_typed(ctx, max_drop=max_drop, sparsity=sparsity, channel_ratio=channel_ratio, epochs=epochs,
                             seed=seed, mean=mean, std=std))
    from edgekit.verification.stats import fmt_accuracy, format_drop

    b = rep.baseline
    n_test = b.n_test or 0
    metric = (rep.metric or {}).get("name", "accuracy")
    figure = (lambda v: fmt_accuracy(v, n_test)) if metric == "accuracy" else (lambda v: format_number(v, "{:.4f}"))
    table = Table("variant", "precision", "size", "× fp32", "gzip × fp32", "sparsity", metric, "drop",
                  "p50 ms", "speedup", "top-1 agree", title=f"edgekit compress {model.name}")
    table.add_row("baseline", "fp32", format_bytes(b.bytes), "1.000", "", format_number(b.sparsity, "{:.2f}"),
                  figure(b.score), "", format_number(b.p50_ms), "1.00×", "")
    for v in rep.variants:
        if v.error:
            status = v.status or "failed"
            colour = "yellow" if status == "not applicable" else "red"
            what = v.error if status == "internal error" else f"{status}: {v.error}"
            table.add_row(v.name, f"[{colour}]{what}[/]", *[""] * 9)
            continue
        table.add_row(v.name, v.precision, format_bytes(v.bytes), f"{v.bytes / b.bytes:.3f}",
                      f"{v.gzip_bytes / b.bytes:.3f}", format_number(v.sparsity, "{:.2f}"),
                      figure(v.score), format_drop(v.drop, metric), format_number(v.p50_ms),
                      f"{v.speedup:.2f}×", format_number(v.parity.top1_agreement if v.parity else None, "{:.4f}"))
    out.print(table)
    mixed = next((v for v in rep.variants if v.name == "mixed" and v.ok), None)
    if mixed:
        out.print(f"mixed precision: layers kept in float: {', '.join(mixed.float_layers) or 'none'}")
    out.print(f"{rep.json_path}  {rep.md_path}")
    _exit_for_steps(f"{len(rep.variants)} variants", [(v.name, v.status or "ok") for v in rep.variants])


def _exit_for_steps(what: str, steps: list[tuple[str, str]]):
    """Exit 3 (a requested step failed) or 70 (a step hit a bug) after the report is written; the
    reasons are in the report and were printed as the steps ran."""
    from edgekit.errors import failure_exit_code

    code = failure_exit_code(status for _, status in steps)
    if code:
        bad = [f"{name} ({status})" for name, status in steps if status in ("failed", "internal error")]
        err.print(f"[red]{len(bad)} of {what} did not pass:[/] {', '.join(bad)}", highlight=False)
        raise typer.Exit(code)


# --- Cortex-M latency estimate --------------------------------------------------------------------
