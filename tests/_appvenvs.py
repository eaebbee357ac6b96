"""Virtual environments for the app-side libraries (MediaPipe Tasks, tflite-support's Task Library
and metadata reader): they pin other protobuf/numpy stacks than TensorFlow's, so they never share
edgekit's environment. Built once per requirement list and cached under
``~/.cache/edgekit/appvenvs/<name>-<hash>`` (``EDGEKIT_APPVENVS`` moves it); building starts when the
fixture is created and is waited for on first use, so it overlaps the tests' training.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock, Timeout

# Each library with only what its Python tasks import (mediapipe's own requirements add the 300 MB
# opencv-contrib build and sounddevice, neither needed here): first line --no-deps, second with deps.
APP_VENVS = {
    "mediapipe": [["--no-deps", "mediapipe==1.2.2", "numpy", "absl-py", "flatbuffers", "certifi",
                   "opencv-python-headless"], ["matplotlib"]],
    "tflite-support": [["--no-deps", "tflite-support==0.4.4", "numpy", "absl-py", "flatbuffers", "protobuf==3.20.3"]],
}

_BUILD = r"""
import json, subprocess, sys, venv, shutil
from pathlib import Path
dest, steps = Path(sys.argv[1]), json.loads(sys.argv[2])
tmp = dest.with_name(dest.name + ".partial")
shutil.rmtree(tmp, ignore_errors=True)
venv.EnvBuilder(with_pip=False).create(tmp)
for args in steps:
    subprocess.run([sys.executable, "-m", "pip", "--python", str(tmp / "bin" / "python"), "install", "-q",
                    "--disable-pip-version-check", *args], check=True)
shutil.rmtree(dest, ignore_errors=True)
tmp.rename(dest)
"""


class AppVenvs:
    """The venvs' pythons; building started at construction, waited for on first use.

    A file lock per venv (beside it in the cache) lets one process build it while the others (the
    other xdist worker, another test run on the machine) wait for it instead of building the same
    folder at once."""

    def __init__(self, root: Path):
        self.dirs, self.jobs, self.locks = {}, {}, {}
        for name, steps in APP_VENVS.items():
            key = hashlib.sha256(json.dumps([sys.version_info[:2], steps]).encode()).hexdigest()[:16]
            d = root / f"{name}-{key}"
            self.dirs[name] = d
            self.locks[name] = FileLock(str(d) + ".lock")
            if not (d / "bin" / "python").is_file():
                root.mkdir(parents=True, exist_ok=True)
                try:
                    self.locks[name].acquire(timeout=0)  # held until the build ends, in python()
                except Timeout:
                    continue  # another process builds it: python() waits on the lock
                self._start(name, steps)

    def _start(self, name: str, steps) -> None:
        if (self.dirs[name] / "bin" / "python").is_file():  # built by the holder of the lock before us
            self.locks[name].release()
            return
        self.jobs[name] = subprocess.Popen([sys.executable, "-c", _BUILD, str(self.dirs[name]), json.dumps(steps)],
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def python(self, name: str) -> Path:
        job = self.jobs.pop(name, None)
        if job is not None:
            try:
                out, _ = job.communicate(timeout=900)
            finally:
                self.locks[name].release()
            assert job.returncode == 0, f"building the {name} venv failed: {out[-2000:]}"
        elif not (self.dirs[name] / "bin" / "python").is_file():
            self.locks[name].acquire(timeout=1200)  # wait for the process that builds it
            self._start(name, APP_VENVS[name])  # it failed (or was killed): build it here
            if name in self.jobs:
                return self.python(name)
            self.locks[name].release()
        return self.dirs[name] / "bin" / "python"

    def run(self, name: str, script: str, *args) -> object:
        res = subprocess.run([str(self.python(name)), "-c", script, *map(str, args)], capture_output=True, text=True,
                             timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def app_venvs():
    root = Path(os.environ.get("EDGEKIT_APPVENVS", Path.home() / ".cache" / "edgekit" / "appvenvs"))
    # tflite-support's native module links the system's libusb-1.0 (as test_phone.py installs it)
    import ctypes.util

    if ctypes.util.find_library("usb-1.0") is None:
        subprocess.run("apt-get update -q && apt-get install -y -q libusb-1.0-0", shell=True, capture_output=True,
                       timeout=900)
    return AppVenvs(root)
