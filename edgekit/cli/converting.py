"""`edgekit export` and `verify`: artifacts from Keras models, and their parity with the reference."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgekit.cli._app import _INPUT_RANGE_HELP, _MEAN_HELP, _STD_HELP, _plain, _print_gpu, _warn, app, out
from edgekit.formats import format_help, io_help, precision_help
from edgekit.units import format_bytes, format_number


@app.command()
def export(model: Path = typer.Argument(..., help=".keras (Keras 3 or tf_keras), .h5 or SavedModel folder"),
           to: str = typer.Option("tflite", "--to", help=format_help()),
           precision: str = typer.Option("fp32", help=precision_help()),
           io: Optional[str] = typer.Option(None, "--io", help=io_help()),
           data: Optional[str] = typer.Option(None, "--data", help="calibration data for int8 (training split is used)"),
           out_dir: Path = typer.Option(Path("export"), "--out", help="output folder"),
           opset: Optional[int] = typer.Option(None, help="ONNX opset (default 17)"),
           unsafe: bool = typer.Option(False, "--unsafe", help="allow Lambda layers' code in .keras files (trusted files only)"),
           input_range: Optional[str] = typer.Option(None, "--input-range", help=_INPUT_RANGE_HELP),
           mean: Optional[float] = typer.Option(None, "--mean", help=_MEAN_HELP),
           std: Optional[float] = typer.Option(None, "--std", help=_STD_HELP),
           target: str = typer.Option("nucleo-l4r5zi", "--target", help="--to mcu: board of the latency estimate (`edgekit targets`)"),
           array_name: str = typer.Option("g_model", "--array-name", help="--to mcu: C identifier of the model array"),
           label_file: Optional[Path] = typer.Option(None, "--label-file", help="class names, one per line in output order (packed as labels.txt)"),
           name: Optional[str] = typer.Option(None, "--name", help="model name in the TFLite metadata apps read"),
           description: Optional[str] = typer.Option(None, "--description", help="model description in the TFLite metadata"),
           author: Optional[str] = typer.Option(None, "--author", help="author in the TFLite metadata"),
           license_: Optional[str] = typer.Option(None, "--license", help="license in the TFLite metadata"),
           batch1: bool = typer.Option(False, "--batch1", help="TFLite with a fixed batch of 1 (no run-time shape ops: GPU-delegate friendly)")):
    """Convert any Keras model to TFLite or ONNX and record it (size, sha256, input spec, normalization, labels, provenance).

    TFLite files carry the standard metadata (TFLITE_METADATA) that the Android Task Library and
    MediaPipe read: normalization, image size, for a classifier a packed labels.txt, for a text model
    its tokenizer; int8 files are uint8 in and out unless --io says otherwise (the libraries refuse int8)."""
    from edgekit.api import export as _export

    art = _export(model, to=to, precision=precision, data=data, out=out_dir, opset=opset, unsafe=unsafe,
                  input_range=input_range, mean=mean, std=std, target=target, array_name=array_name,
                  label_file=label_file, name=name, description=description, author=author, license=license_,
                  batch1=batch1, io=io, warn=_warn)
    if to == "mcu":
        mcu = art.extra["mcu"]
        agree = "—" if mcu["tflm_agreement"] is None else f"{mcu['tflm_agreement']:.4f}"
        out.print(f"{art.path}  int8  {format_bytes(art.bytes)}; TFLM arena {mcu['arena_bytes']:,} bytes, flash "
                  f"{mcu['flash_bytes']:,} bytes, ops {', '.join(mcu['ops'])}; TFLM/LiteRT top-1 agreement {agree}")
        if mcu["unsupported_ops"]:
            out.print(f"[red]ops TFLM lacks:[/] {', '.join(mcu['unsupported_ops'])}")
        if mcu.get("estimate"):
            e = mcu["estimate"]
            out.print(f"estimated {e['summary']} ({e['core']}, {e['mhz']:g} MHz; {e['basis_detail']}); "
                      f"fits RAM {e['fits']['ram']}, flash {e['fits']['flash']}")
        out.print(f"bundle: {out_dir} ({', '.join(mcu['files'])})")
        return
    q = (f", {art.input.dtype} input scale {art.input.scale:.6g} zero point {art.input.zero_point}"
         if art.input.scale else "")
    out.print(f"{art.path}  {art.format} {art.precision}  {format_bytes(art.bytes)}  sha256 {art.sha256[:12]}…{q}")
    if art.normalization is not None:
        n = art.normalization
        out.print(f"input: (raw - {n.mean:g}) / {n.std:g}, raw {n.raw_range[0]:g}..{n.raw_range[1]:g} -> "
                  f"{n.input_range[0]:g}..{n.input_range[1]:g}; labels: {len(art.labels) if art.labels else 'none recorded'}")
    checked = art.extra.get("final_check") or []
    if checked:  # what the file did in its runtime before it got its name
        worst = min(checked, key=lambda o: o["cosine"])
        which = f" (worst output {worst['name']})" if len(checked) > 1 else ""
        out.print(f"checked in its runtime on {worst['n']} {art.extra['final_check_inputs']}: cosine "
                  f"{worst['cosine']:.6f}{which} vs Keras")
    if "tflite_metadata" in art.extra:
        md = art.extra["tflite_metadata"]
        out.print(f"TFLite metadata: name {md['name']!r}, normalization {'yes' if md['normalization'] else 'no'}, "
                  f"packed {', '.join(md['packed_files']) or 'no files'} (min parser {md['min_parser_version']})")
        out.print(f"apps: {md['app']}")
    if art.gpu is not None:
        _print_gpu([art.path])


@app.command()
def verify(artifact: Path = typer.Argument(..., help=".tflite or .onnx file"),
           reference: Path = typer.Option(..., "--reference", help="the Keras model it came from"),
           data: Optional[str] = typer.Option(None, "--data", help="use this dataset's test split (else random inputs)"),
           seed: int = typer.Option(0, help="split / random-input seed"),
           json_out: Optional[Path] = typer.Option(None, "--json", help="write cosine, max abs, top-1 agreement, accuracies with 95% intervals and the gates here"),
           min_cosine: Optional[float] = typer.Option(None, "--min-cosine", help="gate: fail (exit 3) below this output cosine"),
           min_top1_agreement: Optional[float] = typer.Option(None, "--min-top1-agreement", help="gate: fail (exit 3) below this top-1 agreement (0..1)"),
           max_accuracy_drop: Optional[float] = typer.Option(None, "--max-accuracy-drop", help="gate: fail (exit 3) when reference minus artifact accuracy exceeds this fraction (needs --data)"),
           input_range: Optional[str] = typer.Option(None, "--input-range", help=_INPUT_RANGE_HELP),
           mean: Optional[float] = typer.Option(None, "--mean", help=_MEAN_HELP),
           std: Optional[float] = typer.Option(None, "--std", help=_STD_HELP)):
    """Run an artifact in its real runtime and compare its outputs with the Keras model; gate on thresholds."""
    from edgekit.api import verify as _verify
    from edgekit.errors import EXIT_STEP_FAILED
    from edgekit.verification.stats import fmt_accuracy

    thresholds = dict(min_cosine=min_cosine, min_top1_agreement=min_top1_agreement, max_accuracy_drop=max_accuracy_drop)
    r = _verify(artifact, reference, data=data, seed=seed, json=json_out, input_range=input_range, mean=mean, std=std,
                warn=_warn, **thresholds)
    p = r.parity
    _plain(f"{artifact.name} vs {reference.name} on {r.n} {r.source}: cosine {p.cosine:.6f}, "
           f"max abs {p.max_abs:.3g}, top-1 agreement {format_number(p.top1_agreement, '{:.4f}')}"
           + (f", accuracy {fmt_accuracy(r.accuracy, r.n)} (reference {fmt_accuracy(r.reference_accuracy, r.n)}, "
              f"95% Wilson)" if r.accuracy is not None else ""))
    if len(r.outputs) > 1:  # each output by name (the line above gives the worst of them)
        for o in r.outputs:
            _plain(f"  output {o.name} (file: {o.file_name}): cosine {o.cosine:.6f}, max abs {o.max_abs:.3g}, "
                   f"top-1 agreement {format_number(o.top1_agreement, '{:.4f}')}")
    _print_gpu([artifact])
    gates = r.gates(**thresholds)
    failed = [k for k, g in gates.items() if not g.passed]
    for k, g in gates.items():
        _plain(f"gate {k.replace('_', '-')} {g.threshold!r}: {format_number(g.value, '{:.10g}')} "
               f"{'passed' if g.passed else 'FAILED'}")
    if failed:
        raise typer.Exit(EXIT_STEP_FAILED)


