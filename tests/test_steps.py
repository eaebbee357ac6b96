"""The step log every step of a run goes through: values pass, failures are typed and counted once."""

from __future__ import annotations

from edgekit.errors import EdgekitError, NotApplicable
from edgekit.records import StepFailure
from edgekit.steps import StepLog


def test_the_step_log_records_each_failure_and_gives_the_exit_code(tmp_path):
    log = StepLog(tmp_path)
    assert log.attempt("adds", lambda a, b: a + b, 2, b=3) == 5 and log.exit_code == 0

    skipped = log.attempt("not for this model", lambda: (_ for _ in ()).throw(NotApplicable("no Conv2D here")))
    assert isinstance(skipped, StepFailure) and skipped.status == "not applicable"
    assert log.failures == [] and log.exit_code == 0  # by design, not a failure

    failed = log.attempt("bad input", lambda: (_ for _ in ()).throw(EdgekitError("give a full-int8 model")))
    assert failed == StepFailure(step="bad input", status="failed", error="give a full-int8 model",
                                 exception="EdgekitError")
    assert log.failures == [failed] and log.exit_code == 3
    assert not (tmp_path / "edgekit-error.log").exists()  # a user's error needs no traceback

    bug = log.attempt("a bug", lambda: {}["missing"])
    assert bug.status == "internal error" and bug.exception == "KeyError" and "a bug" in bug.error
    assert log.failures == [failed, bug] and log.exit_code == 70
    text = (tmp_path / "edgekit-error.log").read_text()
    assert "--- a bug" in text and "Traceback" in text and "KeyError" in text
