"""The key paths of a result file (``artifacts[].latency_ms.p50``), to compare a file's keys across a change.

Lists are merged (``[]``: the union of their items' keys). Subtrees whose keys are data or another
record's business (package versions, environment variables, the Cortex-M estimate) are kept as one
key, so the comparison is about the report's own shape.
"""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
# Subtrees kept as a single key: their keys depend on the machine or belong to a record tested elsewhere.
OPAQUE = {"machine.versions", "artifacts[].provenance.versions", "ceiling.env", "ceiling_int8.env", "mcu.estimate"}


def key_paths(doc, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(doc, dict):
        for k, v in doc.items():
            path = f"{prefix}.{k}" if prefix else k
            out.add(path)
            if path not in OPAQUE:
                out |= key_paths(v, path)
    elif isinstance(doc, list):
        for v in doc:
            out |= key_paths(v, prefix + "[]")
    return out


def saved_key_paths(name: str) -> set[str]:
    return set(json.loads((FIXTURES / name).read_text())["keys"])


if __name__ == "__main__":  # python tests/_report_keys.py REPORT.json OUT.json "how it was made"
    import sys

    src, dest, note = sys.argv[1], sys.argv[2], sys.argv[3]
    keys = sorted(key_paths(json.loads(Path(src).read_text())))
    Path(dest).write_text(json.dumps({"made_by": note, "keys": keys}, indent=1) + "\n")
