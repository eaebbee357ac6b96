"""The one exception type for errors a user can cause.

Anything raised as :class:`EdgekitError` is printed by the CLI as one line and
turns into a non-zero exit. Any other exception is a bug and keeps its traceback.
"""


class EdgekitError(Exception):
    """A problem with the user's input or environment, with a message saying what to do."""


# Exit codes of the `edgekit` command (documented in the README and in `edgekit --help`).
EXIT_OK = 0  # everything asked for ran and passed
EXIT_ERROR = 1  # bad input or an error the user can fix; one line on stderr
EXIT_USAGE = 2  # the command line itself is wrong (Click's own code for a usage error)
EXIT_STEP_FAILED = 3  # finished and wrote its report, but a requested step (or gate) failed
EXIT_INTERNAL = 70  # a bug in edgekit (EX_SOFTWARE); the traceback is in a log file
