"""What every `edgekit` command shares: the Typer app, the two consoles, the exit-code help, the
error mapping (:func:`wrap_commands`) and small formatting and flag-parsing helpers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

from edgekit.errors import EXIT_INTERNAL, EdgekitError, first_line

# Exit codes (edgekit/errors.py), shown under `edgekit --help` and in the README.
EXIT_CODES_HELP = ("[bold]Exit codes:[/] 0 everything asked for ran and passed; 1 bad input or an error (one line on "
                   "stderr), also a failed gate (compare/bench --interleave regression, a comparison that compared "
                   "nothing); 2 usage error (unknown option); 3 step failed: finished and wrote its report, but a "
                   "requested step failed (compress, demo); 70 internal error (a bug; its traceback goes to "
                   "edgekit-error.log in the output folder, or the temp folder, not to the terminal).")
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="rich", epilog=EXIT_CODES_HELP,
                  help="Keras models to verified, benchmarked TFLite and ONNX artifacts for phones, MCUs and NPUs.")
# Piped into a file or a CI log there is no edge to fit: Rich would assume 80 columns and cut wide
# tables (a fixed 140 still cut them). Tables take the width they need, up to PIPE_WIDTH; $COLUMNS wins.
PIPE_WIDTH = 1000


def _out_width() -> int | None:
    import os

    if sys.stdout.isatty():
        return None
    cols = os.environ.get("COLUMNS", "")
    return int(cols) if cols.isdigit() and int(cols) > 0 else PIPE_WIDTH


out = Console(width=_out_width(), soft_wrap=not sys.stdout.isatty())
err = Console(stderr=True, soft_wrap=True)


# ---- input scaling flags, shared by export, verify, compress and tune (one wording for one idea)
_INPUT_RANGE_HELP = ("the range the model's input expects, LOW,HIGH (e.g. 0,1 or -1,1); raw data (0..255 images) "
                     "are mapped onto it. Needed only when the model has no Rescaling/Normalization layer or model.json")
_MEAN_HELP = "model input = (raw - MEAN) / STD, instead of --input-range"
_STD_HELP = "see --mean"


def _file_column(header: str = "file"):
    """A table column for file names that folds a long name instead of cutting it to `model_fp32…`."""
    from rich.table import Column

    return Column(header, overflow="fold", min_width=12)


def _warn(msg: str) -> None:
    err.print(f"[yellow]warning:[/] {msg}", highlight=False)


def _parse_params(items: list[str] | None) -> dict:
    """`--param alpha=0.35 --param pooling=avg --param input_shape=50x3` to {"alpha": 0.35,
    "pooling": "avg", "input_shape": (50, 3)}: a shape is written as `suggest` prints it."""
    import re

    params = {}
    for item in items or []:
        if "=" not in item:
            raise EdgekitError(f"--param expects key=value, got {item!r} (e.g. --param alpha=0.35).")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = {"true": True, "false": False, "none": None}.get(raw.lower(), raw)
            if re.fullmatch(r"\d+(?:[x,]\d+)+", raw.strip()):  # 64x64x3 or 50,3
                value = tuple(int(v) for v in re.split(r"[x,]", raw.strip()))
        if isinstance(value, list):
            value = tuple(value)
        params[key.strip()] = value
    return params




def _progress(total: int, what: str):
    """A transient progress bar on stderr for ``total`` steps; a no-op for 0. Yields ``step()``."""
    import contextlib

    @contextlib.contextmanager
    def ctx():
        if not total:
            yield lambda: None
            return
        from rich.progress import Progress

        with Progress(console=err, transient=True) as prog:
            task = prog.add_task(what, total=total)
            yield lambda: prog.advance(task)

    return ctx()


def _version_callback(value: bool):
    if value:
        from edgekit import __version__

        typer.echo(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                       help="print the version and exit")):
    """Keras models to verified, benchmarked TFLite and ONNX artifacts for phones, MCUs and NPUs."""





def _typed(ctx: typer.Context, **values) -> dict:
    """The options as the Python verb takes them: a value typed on the command line, else ``None``
    ("not given": the verb applies ``--config``'s file, then its documented default)."""
    return {k: (v if getattr(ctx.get_parameter_source(k), "name", None) in ("COMMANDLINE", "ENVIRONMENT") else None)
            for k, v in values.items()}


def _plain(text: str) -> None:
    """One result line: Rich on a terminal, unwrapped plain text in a pipe or CI log."""
    if sys.stdout.isatty():
        out.print(text, highlight=False)
    else:
        typer.echo(text)


def _print_gpu(files, results: list | None = None) -> None:
    """GPU-delegate compatibility of each .tflite, one line each (and into bench's JSON rows)."""
    from edgekit.runtime.gpu import gpu_compatibility, gpu_summary

    for f in dict.fromkeys(Path(x) for x in files if Path(x).suffix.lower() == ".tflite"):
        g = gpu_compatibility(f)
        out.print(f"{f.name}: {gpu_summary(g)}")
        for o in g.unsupported_ops:
            out.print(f"  op {o.index} {o.op} in {o.layer}: {o.reason}" + (f"; {o.fix}" if o.fix else ""))
        for r in results or []:
            if Path(r.artifact) == f:
                r.gpu = g.model_dump()



def main(argv: list[str] | None = None):
    """The `edgekit` command; `argv` (without the program name) instead of sys.argv when given."""
    try:
        app(args=argv, prog_name="edgekit", standalone_mode=True)
    except EdgekitError as e:  # pragma: no cover - typer handles SystemExit itself
        err.print(f"error: {e}")
        sys.exit(1)


def wrap_commands():
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
            except Exception as e:  # a bug: one line here, the traceback in a log (the output folder if any)
                import tempfile
                import traceback

                from edgekit._io import write_text
                from edgekit.errors import ERROR_LOG

                out_dir = kw.get("out_dir")
                folder = Path(out_dir) if out_dir and Path(out_dir).is_dir() else Path(tempfile.gettempdir())
                log = write_text(folder / ERROR_LOG, traceback.format_exc())
                first = first_line(str(e))  # the type is named already
                err.print(f"[red]internal error[/] (a bug in edgekit): {type(e).__name__}: {first} (traceback in {log})",
                          highlight=False)
                raise typer.Exit(EXIT_INTERNAL)

        info.callback = wrapper


