"""Atomic writes: an export killed with SIGKILL while its file is being written leaves nothing
under the final name (only a hidden ``.partial`` file), and a finished one is complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The child builds a ~17 MB float model (so writing and load-checking the file takes a while),
# then exports it again and again under new names until it is killed.
CHILD = r"""
import os, sys
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
from edgekit._tf import keras
from edgekit.convert import export
out = sys.argv[1]
keras.utils.set_random_seed(0)
inp = keras.Input((1024,), name="input")
h = keras.layers.Dense(2048, name="wide")(inp)
net = keras.Model(inp, keras.layers.Dense(1024, name="out")(h))
print("ready", flush=True)
for i in range(1000):
    export(net, to="tflite", precision="fp32", out=out, name=f"m{i}")
"""


def _written(entry) -> bool:
    """The temporary file holds bytes: atomic_path's own placeholder (made by mkstemp for a unique name,
    removed at once so the writer creates the path) is empty and may be gone before the kill lands."""
    try:
        return entry.stat().st_size > 0
    except FileNotFoundError:
        return False


def test_an_export_killed_mid_write_leaves_no_file_under_the_final_name(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_USE_LEGACY_KERAS="1")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.time() + 240
        partial = None
        while time.time() < deadline and proc.poll() is None:
            partial = next((e.name for e in os.scandir(out) if ".partial" in e.name and _written(e)), None)
            if partial:
                proc.send_signal(signal.SIGKILL)  # no cleanup, no finally: blocks, no atexit
                break
            time.sleep(0.0005)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert partial, "the export never wrote a temporary file"
    left = sorted(p.name for p in out.iterdir())
    killed = [n for n in left if ".partial" in n]
    # the kill landed after the rename only if the partial file is gone; then the file is complete
    finals = [n for n in left if not n.startswith(".")]
    for name in killed:
        stem = name[1:].split(".", 1)[0]  # ".m3_fp32.xyz.partial.tflite" -> "m3_fp32"
        assert f"{stem}.tflite" not in finals, (name, left)
    from edgekit.runtime.base import load_runner

    for name in finals:  # every file under a final name loads: none is half-written
        load_runner(out / name, "litert")
    assert killed, f"the kill came after the rename; {left}"
