"""The child-process side of :mod:`edgekit.runtime.tflm`. Not a public module.

Run as ``python -m edgekit.runtime._tflm_worker MODEL.tflite``. TensorFlow Lite Micro's
Python interpreter can abort the whole process (SIGABRT in ``QuantizeMultiplierGreaterThanOne``
on some softmax models, a segfault on very small arenas) and aborts when TensorFlow is loaded
in the same process, so it only ever runs here, in a process of its own, importing nothing but
numpy and ``tflite_micro``.

Protocol (one request at a time): the parent writes a JSON line, optionally followed by the raw
bytes of one array whose ``dtype``/``shape``/``nbytes`` the JSON names; the worker answers the
same way. File descriptor 1 is pointed at stderr for the C++ side, so only this module writes
to the protocol pipe.

Requests: ``load {arena}``, ``probe {arena}``, ``usage``, ``run`` (+ float batch),
``set`` (+ one float sample), ``invoke {n}``, ``quit``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time

import numpy as np

# A test hook: make the child die the way TFLM does, at a named step ("load", "invoke").
_TEST_ABORT = os.environ.get("EDGEKIT_TFLM_TEST_ABORT", "")


class _Channel:
    def __init__(self):
        # Keep the real stdout for the protocol; everything else printing to fd 1 goes to stderr.
        self._out = os.fdopen(os.dup(1), "wb", buffering=0)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self._in = sys.stdin.buffer

    def read(self):
        line = self._in.readline()
        if not line:
            return None, None
        req = json.loads(line)
        arr = None
        if "nbytes" in req:
            data = self._read_exact(req["nbytes"])
            arr = np.frombuffer(data, dtype=req["dtype"]).reshape(req["shape"])
        return req, arr

    def _read_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self._in.read(n - len(buf))
            if not chunk:
                raise EOFError("parent closed the pipe")
            buf += chunk
        return bytes(buf)

    def write(self, reply: dict, arr: np.ndarray | None = None):
        if arr is not None:
            arr = np.ascontiguousarray(arr)
            reply = dict(reply, dtype=arr.dtype.str, shape=list(arr.shape), nbytes=arr.nbytes)
        self._out.write((json.dumps(reply) + "\n").encode())
        if arr is not None:
            self._out.write(arr.tobytes())


def _details(d) -> dict:
    q = d["quantization_parameters"]
    scales = np.asarray(q["scales"]).ravel()
    zps = np.asarray(q["zero_points"]).ravel()
    return {
        "shape": [int(s) for s in d["shape"]],
        "dtype": np.dtype(d["dtype"]).name,
        "scale": float(scales[0]) if scales.size and scales[0] else None,
        "zero_point": int(zps[0]) if scales.size and scales[0] else None,
    }


def _quantize(x: np.ndarray, spec: dict) -> np.ndarray:
    # The same arithmetic as edgekit.runtime.base.quantize (kept import-free here).
    if spec["scale"] is None:
        return x.astype(spec["dtype"])
    info = np.iinfo(spec["dtype"])
    q = np.round(x / spec["scale"] + spec["zero_point"])
    return np.clip(q, info.min, info.max).astype(spec["dtype"])


def _dequantize(q: np.ndarray, spec: dict) -> np.ndarray:
    if spec["scale"] is None:
        return q.astype(np.float32)
    return ((q.astype(np.float32) - spec["zero_point"]) * spec["scale"]).astype(np.float32)


class _StderrCapture:
    """Collect what the C++ side writes to fd 2 (TFLM's own messages) while still passing it on."""

    def __enter__(self):
        self._tmp = tempfile.TemporaryFile()
        sys.stderr.flush()
        self._saved = os.dup(2)
        os.dup2(self._tmp.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        self.text = self._tmp.read().decode("utf-8", "replace")
        self._tmp.close()
        if self.text:
            sys.stderr.write(self.text)
            sys.stderr.flush()
        return False


def main(argv: list[str]) -> int:
    chan = _Channel()
    from tflite_micro.python.tflite_micro import runtime

    model = open(argv[0], "rb").read()
    interp = None
    inp = out = None
    while True:
        req, arr = chan.read()
        if req is None or req["cmd"] == "quit":
            return 0
        cmd = req["cmd"]
        try:
            if cmd in ("load", "probe"):
                if _TEST_ABORT == "load":
                    os.abort()
                with _StderrCapture() as cap:
                    try:
                        it = runtime.Interpreter.from_bytes(model, arena_size=int(req["arena"]))
                        err = None
                    except (RuntimeError, ValueError) as e:
                        it, err = None, str(e)
                if it is None:
                    chan.write({"ok": False, "error": err, "log": cap.text[-4000:]})
                    continue
                if cmd == "probe":
                    del it
                    chan.write({"ok": True})
                    continue
                interp = it
                inp, out = _details(interp.get_input_details(0)), _details(interp.get_output_details(0))
                chan.write({"ok": True, "input": inp, "output": out})
            elif cmd == "usage":
                with _StderrCapture() as cap:
                    interp.print_allocations()
                m = re.search(r"Arena allocation total (\d+) bytes", cap.text)
                chan.write({"ok": True, "total": int(m.group(1)) if m else None})
            elif cmd == "run":
                outs = []
                for i in range(len(arr)):
                    interp.set_input(_quantize(arr[i : i + 1], inp), 0)
                    if _TEST_ABORT == "invoke":
                        os.abort()
                    interp.invoke()
                    outs.append(_dequantize(np.asarray(interp.get_output(0)), out))
                chan.write({"ok": True}, np.concatenate(outs, axis=0))
            elif cmd == "set":
                interp.set_input(_quantize(arr[:1], inp), 0)
                chan.write({"ok": True})
            elif cmd == "invoke":
                times = []
                for _ in range(int(req.get("n", 1))):
                    t0 = time.perf_counter()
                    interp.invoke()
                    times.append((time.perf_counter() - t0) * 1e3)
                chan.write({"ok": True, "ms": times})
            else:
                chan.write({"ok": False, "error": f"unknown request {cmd!r}"})
        except (RuntimeError, ValueError) as e:
            # edgekit.errors.first_line's rule, uncut; this child imports nothing of edgekit
            chan.write({"ok": False, "error": str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
