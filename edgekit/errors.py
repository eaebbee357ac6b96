"""The one exception type for errors a user can cause.

Anything raised as :class:`EdgekitError` is printed by the CLI as one line and
turns into a non-zero exit. Any other exception is a bug and keeps its traceback.
"""


class EdgekitError(Exception):
    """A problem with the user's input or environment, with a message saying what to do."""


class NotApplicable(EdgekitError):
    """A step that does not apply to this model by design (channel pruning of a model with no
    Conv2D): reported as "not applicable", never as a failure, and no reason for a non-zero exit."""


# Exit codes of the `edgekit` command (documented in the README and in `edgekit --help`).
EXIT_OK = 0  # everything asked for ran and passed
EXIT_ERROR = 1  # bad input or an error the user can fix; one line on stderr
EXIT_USAGE = 2  # the command line itself is wrong (Click's own code for a usage error)
EXIT_STEP_FAILED = 3  # finished and wrote its report, but a requested step (or gate) failed
EXIT_INTERNAL = 70  # a bug in edgekit (EX_SOFTWARE); the traceback is in a log file


ERROR_LOG = "edgekit-error.log"

# How much of a library's message a one-line error quotes: enough for the op or layer it names,
# short enough that the line stays one terminal line or one table cell.
FIRST_LINE_CHARS = 200


def first_line(e: BaseException | str, limit: int = FIRST_LINE_CHARS) -> str:
    """The first line of an exception's message (its type's name when the message is empty), cut at
    ``limit`` characters: what an error line or a row's ``error`` quotes of a library's exception."""
    text = str(e).strip()
    line = text.splitlines()[0].strip() if text else ""
    if not line:
        line = type(e).__name__ if isinstance(e, BaseException) else ""
    return line[:limit]  # where a step's internal error keeps its traceback, in the output folder


def step_error(e: BaseException, out_dir, step: str) -> tuple[str, str]:
    """Classify an exception raised inside one step of a run as ``(status, one_line)``.

    ``status`` is ``"not applicable"`` (:class:`NotApplicable`), ``"failed"`` (any other
    :class:`EdgekitError`: the input or environment) or ``"internal error"`` (anything else: a bug).
    For an internal error the traceback is appended to ``out_dir/edgekit-error.log``, not printed,
    and the line says so.
    """
    if isinstance(e, NotApplicable):
        return "not applicable", str(e)
    if isinstance(e, EdgekitError):
        return "failed", str(e)
    import traceback
    from pathlib import Path

    from edgekit._io import write_text

    log = Path(out_dir) / ERROR_LOG
    before = log.read_text() if log.is_file() else ""
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    write_text(log, before + f"--- {step}\n{tb}\n")
    text = first_line(str(e))  # the type is named already
    return "internal error", f"internal error (a bug in edgekit) in {step}: {type(e).__name__}: {text} (traceback in {log})"


def failure_exit_code(statuses) -> int:
    """The exit code of a finished run from its steps' statuses: 70 if any hit an internal error,
    3 if any failed, else 0 ("not applicable" is not a failure)."""
    statuses = list(statuses)
    if "internal error" in statuses:
        return EXIT_INTERNAL
    return EXIT_STEP_FAILED if "failed" in statuses else EXIT_OK
