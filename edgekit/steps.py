"""The step runner of a run: each step runs through :meth:`StepLog.attempt`, which returns the step's
value or, when it raised, a typed :class:`~edgekit.records.StepFailure` it also keeps.

    log = StepLog(run_dir, console)
    row = log.attempt("export/verify/bench model_int8.tflite", export_row, "tflite", "int8")
    if isinstance(row, StepFailure): ...          # the run goes on; the failure is in log.failures
    report.failures = log.failures                # report.json's "failures"
    log.exit_code                                 # 0, 3 (a step failed) or 70 (a bug): edgekit.errors

A step cannot be forgotten by the report or the exit code: whatever runs through the log is counted.
A :class:`~edgekit.errors.NotApplicable` step is returned as a failure record (for the caller to show)
but is not counted. The traceback of an internal error goes to ``edgekit-error.log`` in the run folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, TypeVar

from edgekit.errors import failure_exit_code, step_error
from edgekit.records import StepFailure

T = TypeVar("T")


class StepLog:
    """The failures of one run's steps, in the order they happened."""

    def __init__(self, run_dir: str | Path, console=None):
        self.run_dir = Path(run_dir)
        self.console = console
        self.failures: list[StepFailure] = []

    def attempt(self, step: str, fn: Callable[..., T], *args, **kwargs) -> T | StepFailure:
        """``fn(*args, **kwargs)``, or the failure record of ``step`` when it raised (printed and kept)."""
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - a step's failure is recorded and the run goes on
            status, line = step_error(e, self.run_dir, step)
            failure = StepFailure(step=step, status=status, error=line, exception=type(e).__name__)
            if status != "not applicable":
                self.failures.append(failure)
            if self.console is not None:
                self.console.print(f"  [red]{step} {status}[/]: {line}", highlight=False)
            return failure

    @property
    def exit_code(self) -> int:
        """The exit code of the finished run (:func:`edgekit.errors.failure_exit_code`)."""
        return failure_exit_code(f.status for f in self.failures)
