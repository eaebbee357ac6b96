"""Run many `edgekit` command lines in one process, each as the command would run them.

    python tests/_cli_batch.py CASES.json RESULTS.jsonl

CASES.json is a list of {"name", "argv"}; for each, `edgekit.cli.main(argv)` runs with file
descriptors 1 and 2 sent to files of their own (so native libraries' writes are caught as a
terminal would show them), and one JSON line {"name", "code", "stdout", "stderr", "seconds"} is
appended to RESULTS.jsonl. A line {"start": name} comes first, so a case that kills the process
is named. This pays Python's and TensorFlow's import once instead of once per case.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback


def _run_one(argv: list[str]) -> tuple[int, str, str]:
    from edgekit.cli import main

    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        sys.stdout.flush(), sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(fo.fileno(), 1), os.dup2(fe.fileno(), 2)
        try:
            main(argv)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:  # noqa: BLE001 - what would reach the user as a traceback
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])
        fo.seek(0), fe.seek(0)
        return code, fo.read().decode(errors="replace"), fe.read().decode(errors="replace")


def main() -> None:
    cases = json.loads(open(sys.argv[1]).read())
    with open(sys.argv[2], "a") as results:
        for case in cases:
            results.write(json.dumps({"start": case["name"]}) + "\n")
            results.flush()
            t0 = time.perf_counter()
            code, stdout, stderr = _run_one(case["argv"])
            results.write(json.dumps({"name": case["name"], "code": code, "stdout": stdout, "stderr": stderr,
                                      "seconds": time.perf_counter() - t0}) + "\n")
            results.flush()


if __name__ == "__main__":
    main()
