"""The one exception type for errors a user can cause.

Anything raised as :class:`EdgekitError` is printed by the CLI as one line and
turns into a non-zero exit. Any other exception is a bug and keeps its traceback.
"""


class EdgekitError(Exception):
    """A problem with the user's input or environment, with a message saying what to do."""
