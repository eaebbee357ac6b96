"""The `edgekit` command: a thin Typer layer over the Python API.

Heavy imports (TensorFlow, converters, runtimes) happen inside the commands, so
`edgekit --help` answers at once and `edgekit bench model.tflite` never loads TensorFlow.
One module per group of verbs; importing them registers their commands on :data:`app`.
"""

from edgekit.cli._app import app, main, wrap_commands
from edgekit.cli import catalog, training, converting, benchmarking, emulating  # noqa: E402,F401 - registers the commands
from edgekit.cli.training import _exit_for_steps  # noqa: F401 - used by tests and scripts

wrap_commands()

__all__ = ["app", "main"]
