"""TensorFlow Lite for Microcontrollers on the host, always in a child process.

``tflite_micro``'s Python interpreter can take the whole process down with no Python exception
(SIGABRT in ``QuantizeMultiplierGreaterThanOne`` while preparing a softmax of an untrained int8
model; a segfault when the arena is a few hundred bytes), and aborts when TensorFlow is imported
in the same process. So the interpreter lives in ``python -m edgekit.runtime._tflm_worker``; a
crash there becomes one :class:`EdgekitError` line here, and the parent carries on.

Public API::

    measure_arena(path) -> int                      # smallest tensor arena that allocates (16-byte steps)
    measure_arena_detail(path) -> ArenaSize         # ... plus TFLM's own RecordingMicroAllocator total
    run_tflm(path, x_float, arena=None) -> ndarray  # float in, dequantized float out
    TFLMRunner(path, arena=None)                    # the Runner the harness and parity check use

No TensorFlow import here: this module works on files.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from edgekit._deps import available, missing_message
from edgekit.artifact import TensorSpec
from edgekit.errors import EdgekitError
from edgekit.runtime.base import Runner

ALIGN = 16  # TFLM aligns arena allocations to 16 bytes; a device arena is declared alignas(16)
_FIRST_PROBE = 1 << 20  # 1 MiB: larger than a typical MCU model needs; doubled when too small
_MAX_ARENA = 1 << 28  # 256 MiB: beyond any microcontroller, stop searching
DEFAULT_TIMEOUT = 120.0

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def _require_tflm():
    if not available("tflite_micro"):
        raise EdgekitError(missing_message("tflite_micro", "the TFLite Micro runtime"))


def _signal_name(returncode: int) -> str:
    try:
        return f"signal {signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal {-returncode}"


class _Crashed(Exception):
    """The worker died (signal or exit) before answering."""

    def __init__(self, returncode: int | None, log: str):
        super().__init__(returncode, log)
        self.returncode = returncode
        self.log = log


class _Worker:
    """One child process holding one TFLM interpreter."""

    def __init__(self, path: Path, timeout: float = DEFAULT_TIMEOUT):
        _require_tflm()
        self.path = Path(path)
        self.timeout = timeout
        self._err = tempfile.TemporaryFile()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgekit.runtime._tflm_worker", str(self.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env=env,
            close_fds=True,
        )
        self._buf = bytearray()
        self._stderr_from = 0  # where the current request's stderr starts

    # -- plumbing -------------------------------------------------------------------------
    def _stderr_tail(self) -> str:
        """The last line the worker wrote to stderr during the current request. Earlier lines are left
        out: an arena probe's "Failed to allocate" from a previous request would otherwise be quoted as
        the reason of an unrelated crash. Read with pread: the child shares the file offset."""
        try:
            fd = self._err.fileno()
            size = os.fstat(fd).st_size
            text = os.pread(fd, max(0, size - self._stderr_from), self._stderr_from).decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        return lines[-1] if lines else ""

    def _read(self, n: int | None, deadline: float) -> bytes:
        """Read one line (n=None) or exactly n bytes from the child, or raise _Crashed/TimeoutError."""
        fd = self.proc.stdout.fileno()
        while True:
            if n is None:
                i = self._buf.find(b"\n")
                if i >= 0:
                    out = bytes(self._buf[: i + 1])
                    del self._buf[: i + 1]
                    return out
            elif len(self._buf) >= n:
                out = bytes(self._buf[:n])
                del self._buf[:n]
                return out
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                try:
                    rc = self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    rc = None
                raise _Crashed(rc, self._stderr_tail())
            self._buf += chunk

    def request(self, req: dict, arr: np.ndarray | None = None, *, timeout: float | None = None):
        """Send a request; return (reply, array or None). Raises _Crashed or TimeoutError."""
        if arr is not None:
            arr = np.ascontiguousarray(arr)
            req = dict(req, dtype=arr.dtype.str, shape=list(arr.shape), nbytes=arr.nbytes)
        with contextlib.suppress(OSError, ValueError):
            self._stderr_from = os.fstat(self._err.fileno()).st_size
        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            if arr is not None:
                self.proc.stdin.write(arr.tobytes())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            try:
                rc = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                rc = None
            raise _Crashed(rc, self._stderr_tail()) from None
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        reply = json.loads(self._read(None, deadline))
        out = None
        if "nbytes" in reply:
            data = self._read(reply["nbytes"], deadline)
            out = np.frombuffer(data, dtype=reply["dtype"]).reshape(reply["shape"]).copy()
        return reply, out

    def call(self, req: dict, arr: np.ndarray | None = None, *, what: str, timeout: float | None = None):
        """:meth:`request`, with a crash or a hang turned into one EdgekitError line."""
        try:
            return self.request(req, arr, timeout=timeout)
        except _Crashed as c:
            self.close()
            raise EdgekitError(self._crash_message(c, what)) from None
        except TimeoutError:
            self.kill()
            t = self.timeout if timeout is None else timeout
            raise EdgekitError(
                f"{self.path}: TFLM did not answer within {t:.0f} s while {what}; the worker was stopped."
            ) from None

    def _crash_message(self, c: _Crashed, what: str) -> str:
        rc = c.returncode
        if rc is not None and rc < 0:
            head = f"{self.path}: TFLM aborted ({_signal_name(rc)}) while {what}"
            tail = "; TFLM cannot run this model (other runtimes are unaffected)."
        else:
            head = f"{self.path}: the TFLM worker exited (code {rc}) while {what}"
            tail = "."
        if c.log:
            tail = f"{tail[:-1]}; last message: {c.log[:200]}"
        return head + tail

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
        self._close_files()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b'{"cmd": "quit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self._close_files()

    def _close_files(self):
        for f in (self.proc.stdin, self.proc.stdout, self._err):
            try:
                f.close()
            except (OSError, ValueError):
                pass


def _tensor_spec(d: dict, name: str) -> TensorSpec:
    return TensorSpec(
        name=name,
        shape=tuple(d["shape"]),
        dtype=d["dtype"],
        scale=d["scale"],
        zero_point=d["zero_point"],
    )


# TFLM log lines that mean the model itself cannot load (not that the arena is too small).
_MODEL_PROBLEM = re.compile(r"Didn't find op|registration|not supported|unsupported|schema version", re.I)


def _log_line(reply: dict) -> str:
    """The most telling line of TFLM's log for a failed load (or the Python error)."""
    lines = [ln.strip() for ln in (reply.get("log") or "").splitlines() if ln.strip()]
    for ln in lines:
        if _MODEL_PROBLEM.search(ln):
            return ln[:200]
    return (lines[-1] if lines else reply.get("error") or "unknown error")[:200]


def _round_up(n: int, k: int = ALIGN) -> int:
    return -(-n // k) * k


class ArenaSize(BaseModel):
    """The tensor arena TFLM needs for one model.

    ``bytes`` is the smallest ``arena_size`` for which the real interpreter allocates, found by
    bisection at 16-byte granularity (the host interpreter aligns its arena start itself, so the
    figure can move by up to 16 bytes between runs). ``tflm_reported_bytes`` is what TFLM's
    ``RecordingMicroAllocator`` says it used at that size (``print_allocations``).
    """

    bytes: int
    tflm_reported_bytes: int | None = None
    probes: int = 0


def measure_arena_detail(tflite_path: str | Path, *, timeout: float = DEFAULT_TIMEOUT) -> ArenaSize:
    path = Path(tflite_path)
    if not path.is_file():
        raise EdgekitError(f"{path}: no such file. Check the path to the .tflite model.")
    worker = _Worker(path, timeout)
    probes = 0

    def probe(n: int) -> bool | None:
        """True: allocates; False: too small; None: the child crashed at this size."""
        nonlocal worker, probes, last_log
        probes += 1
        try:
            reply, _ = worker.request({"cmd": "probe", "arena": n})
        except _Crashed as c:
            worker.close()
            if ok_size is None:  # no size has worked yet: this is the model, not the arena
                raise EdgekitError(worker._crash_message(c, "creating the interpreter")) from None
            worker = _Worker(path, timeout)  # a tiny arena can crash TFLM: count it as too small
            return None
        except TimeoutError:
            worker.kill()
            raise EdgekitError(f"{path}: TFLM did not answer within {timeout:.0f} s while allocating its arena.") from None
        if not reply["ok"]:
            last_log = _log_line(reply)
            if _MODEL_PROBLEM.search(reply.get("log") or "") or "allocate" not in (reply.get("error") or ""):
                worker.close()
                raise EdgekitError(f"{path}: TFLM cannot load this model: {last_log}")
        return bool(reply["ok"])

    last_log = ""
    try:
        ok_size = None
        n = _FIRST_PROBE
        while ok_size is None:
            if probe(n):
                ok_size = n
            elif n >= _MAX_ARENA:
                raise EdgekitError(
                    f"{path}: TFLM could not allocate even a {_MAX_ARENA >> 20} MiB arena"
                    + (f"; last message: {last_log}" if last_log else ".")
                )
            else:
                n *= 2
        lo, hi = 0, ok_size  # lo never allocates, hi always does
        while hi - lo > ALIGN:
            mid = _round_up((lo + hi) // 2)
            if mid >= hi:
                mid = hi - ALIGN
            if mid <= lo:
                break
            if probe(mid):
                hi = mid
            else:
                lo = mid
        # Load at the found size, run once, and read TFLM's own account of the arena.
        reply, _ = worker.call({"cmd": "load", "arena": hi}, what="creating the interpreter")
        if not reply["ok"]:
            raise EdgekitError(f"{path}: TFLM allocated {hi} bytes once but not again: {reply.get('error')}")
        shape = reply["input"]["shape"]
        worker.call({"cmd": "run"}, np.zeros(shape, np.float32), what="running inference")
        usage, _ = worker.call({"cmd": "usage"}, what="reading its arena usage")
        return ArenaSize(bytes=hi, tflm_reported_bytes=usage.get("total"), probes=probes)
    finally:
        worker.close()


def measure_arena(tflite_path: str | Path, *, timeout: float = DEFAULT_TIMEOUT) -> int:
    """The smallest tensor arena (bytes, a multiple of 16) with which TFLM allocates this model."""
    return measure_arena_detail(tflite_path, timeout=timeout).bytes


class TFLMRunner(Runner):
    """TFLM as a :class:`Runner`. The interpreter lives in a child process.

    ``invoke_once`` includes a pipe round trip (tens of microseconds); :meth:`time_invokes`
    returns timings taken inside the child, which is what a benchmark should report.
    """

    name = "tflm"

    def __init__(self, path, threads: int = 1, arena: int | None = None, timeout: float = DEFAULT_TIMEOUT):
        super().__init__(path, threads)  # TFLM is single-threaded; threads is recorded only
        if not self.path.is_file():
            raise EdgekitError(f"{self.path}: no such file. Check the path to the .tflite model.")
        self.arena = int(arena) if arena else measure_arena(self.path, timeout=timeout)
        self._w = _Worker(self.path, timeout)
        reply, _ = self._w.call({"cmd": "load", "arena": self.arena}, what="creating the interpreter")
        if not reply["ok"]:
            self._w.close()
            raise EdgekitError(
                f"{self.path}: TFLM cannot load this model with a {self.arena}-byte arena: "
                f"{_log_line(reply)}"
            )
        self._in = _tensor_spec(reply["input"], "input")
        self._out = _tensor_spec(reply["output"], "output")
        self.last_invoke_ms: float | None = None

    @property
    def input_spec(self) -> TensorSpec:
        return self._in

    @property
    def output_spec(self) -> TensorSpec:
        return self._out

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        reply, out = self._w.call({"cmd": "run"}, x, what=f"running inference on {len(x)} samples")
        if not reply["ok"]:
            raise EdgekitError(f"{self.path}: TFLM inference failed: {reply.get('error')}")
        return out

    def prepare(self, x: np.ndarray) -> None:
        reply, _ = self._w.call({"cmd": "set"}, np.asarray(x, np.float32)[:1], what="setting the input")
        if not reply["ok"]:
            raise EdgekitError(f"{self.path}: TFLM could not take this input: {reply.get('error')}")

    def invoke_once(self) -> None:
        self.last_invoke_ms = self.time_invokes(1)[0]

    def time_invokes(self, n: int) -> list[float]:
        """Run the prepared input ``n`` times; per-invoke milliseconds measured inside the child."""
        reply, _ = self._w.call({"cmd": "invoke", "n": int(n)}, what="running inference")
        if not reply["ok"]:
            raise EdgekitError(f"{self.path}: TFLM inference failed: {reply.get('error')}")
        return reply["ms"]

    @property
    def precision(self) -> str:
        return "int8" if self._in.dtype in ("int8", "uint8") else "fp32"

    def close(self) -> None:
        self._w.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        w = getattr(self, "_w", None)
        if w is not None:
            try:
                w.close()
            except Exception:  # pragma: no cover - interpreter shutdown
                pass


def run_tflm(tflite_path: str | Path, x_float_batch: np.ndarray, arena: int | None = None,
             *, timeout: float = DEFAULT_TIMEOUT) -> np.ndarray:
    """Run a float batch through TFLM (quantized with the model's input scale and zero point,
    outputs dequantized); the arena is measured first when not given."""
    with TFLMRunner(tflite_path, arena=arena, timeout=timeout) as r:
        return r.run(x_float_batch)
