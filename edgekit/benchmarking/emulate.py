"""Run a model's MCU bundle on an emulated Cortex-M: TFLM (+ CMSIS-NN) for the core, the bundle's
own ``main.cc`` built with ``-DEDGEKIT_EMULATE``, QEMU, and instructions counted per inference and
per operator.

    emulate("model_int8.tflite", "cortex-m4", tflm_dir="~/src/tflite-micro", x=x_float) -> EmulationResult

Steps: write the bundle (``edgekit.convert.mcu.build_mcu_bundle``: arena measured on the host),
build TFLM's library for the core (cached, :mod:`edgekit.benchmarking.tflm_build`), link the
bundle with its Makefile (the program keeps the bundle's own arena, so a run also checks it), run it
in qemu-system-arm with the quantized inputs in a file it reads over semihosting, and compare every
output byte with LiteRT's reference kernels (the same integer arithmetic, with CMSIS-NN's fully
connected layers built to round as LiteRT's do: see tflm_build; XNNPACK rounds differently).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from edgekit import tflite_file
from edgekit.convert import mcu_build
from edgekit.errors import EdgekitError
from edgekit.records import EmulationResult, OpInstructions

TOOLS = {"arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib",
         "qemu-system-arm": "qemu-system-arm"}


def require_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise EdgekitError(f"{', '.join(missing)} not found: apt-get install {' '.join(TOOLS[t] for t in missing)}.")


def quantize_inputs(x: np.ndarray, scale: float, zero_point: int, dtype: str) -> np.ndarray:
    """Float samples (what the Keras model sees) as the model's int8/uint8 input."""
    lo, hi = (0, 255) if dtype == "uint8" else (-128, 127)
    q = np.round(np.asarray(x, np.float64) / scale) + zero_point
    return np.clip(q, lo, hi).astype(np.uint8 if dtype == "uint8" else np.int8)


def random_quantized_inputs(shape, dtype: str, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lo, hi = (0, 255) if dtype == "uint8" else (-128, 127)
    return rng.integers(lo, hi + 1, size=(n, *shape)).astype(np.uint8 if dtype == "uint8" else np.int8)


def litert_reference(path: str | Path, xq: np.ndarray) -> np.ndarray:
    """Raw quantized outputs of LiteRT's reference kernels (``BUILTIN_REF``), one row per sample."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path), num_threads=1, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    rows = []
    for s in xq:
        it.set_tensor(i["index"], s.reshape(i["shape"]).astype(i["dtype"]))
        it.invoke()
        rows.append(it.get_tensor(o["index"]).reshape(-1).copy())
    return np.stack(rows)


def host_tflm(path: str | Path, xq: np.ndarray, arena: int) -> np.ndarray | None:
    """Raw outputs of TFLM on the host (its reference kernels, the Python tflite-micro package),
    or None when that package is not installed."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return None
    it = runtime.Interpreter.from_file(str(path), arena_size=int(arena))
    rows = []
    for s in xq:
        it.set_input(s.reshape(it.get_input_details(0)["shape"]), 0)
        it.invoke()
        rows.append(it.get_output(0).reshape(-1).copy())
    return np.stack(rows)


def weight_bytes(path: str | Path) -> int:
    """Bytes of the model's constant buffers (weights and biases)."""
    model = tflite_file.read_model(path)
    return int(sum(len(b.data) for b in (model.buffers or []) if b is not None and b.data is not None))


def _flash_and_ram(elf: Path) -> tuple[int, int]:
    """(flash, RAM) of a linked program: text + data, data + bss (arm-none-eabi-size, Berkeley)."""
    r = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True)
    text, data, bss = map(int, r.stdout.splitlines()[1].split()[:3])
    return text + data, data + bss


def link(bundle: Path, lib, core: str, kernels: str) -> Path:
    """The bundle's program for ``core`` with its own Makefile, against a prebuilt TFLM library.
    The program keeps the bundle's own arena: a run is also the check that it is large enough."""
    build = f"build/{core}-{kernels}-emulate"
    cmd = ["make", "-C", str(bundle), f"CORE={core}", f"KERNELS={'reference' if kernels == 'reference' else 'cmsis_nn'}",
           f"TFLM={lib.tflm_dir}", f"TFLM_LIB={lib.path}", f"BUILD={build}",
           "EXTRA_DEFS=-DEDGEKIT_EMULATE", "all"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        missing = sorted(set(re.findall(r"undefined reference to `tflite::(Register_\w+)", r.stderr)))
        hint = f" (the library lacks {', '.join(missing)})" if missing else ""
        raise EdgekitError(f"linking the bundle for {core} failed{hint}: {r.stderr.strip().splitlines()[-1][:300]}")
    return bundle / build / "app.elf"


_LINE = re.compile(r"^edgekit (\w+) (.*)$")


def run_program(elf: Path, core: str, xq: np.ndarray, timeout: float = 600.0) -> dict:
    """Run the emulate build of main.cc in QEMU on ``xq``; parsed ticks, per-op ticks and outputs."""
    with tempfile.TemporaryDirectory(prefix="edgekit-qemu-") as d:
        (Path(d) / "edgekit_inputs.bin").write_bytes(np.ascontiguousarray(xq).tobytes())
        try:
            r = subprocess.run(mcu_build.qemu_command(core, str(elf)), cwd=d, capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise EdgekitError(f"the program did not finish in QEMU within {timeout:.0f} s; pass a longer timeout.") from e
    out = {"ticks": [], "ops": {}, "outputs": [], "arena_used": None, "arena": None, "done": None}
    for ln in r.stdout.splitlines():
        m = _LINE.match(ln.strip())
        if not m:
            continue
        kind, rest = m.groups()
        f = rest.split()
        if kind == "inference":
            out["ticks"].append(int(f[1]))
        elif kind == "op":
            out["ops"].setdefault(int(f[0]), []).append((int(f[1]), f[2], int(f[3])))
        elif kind == "output":
            out["outputs"].append(bytes.fromhex(f[1]) if len(f) > 1 else b"")
        elif kind == "arena_used":  # "<used> of <the program's arena>"
            out["arena_used"] = int(f[0])
            out["arena"] = int(f[2]) if len(f) > 2 else None
        elif kind == "done":
            out["done"] = int(f[0])
        elif kind == "error":
            raise EdgekitError(f"the program on {core} stopped: {rest}")
    if "AllocateTensors failed" in r.stdout:
        raise EdgekitError(f"the bundle's arena is too small on {core}: TFLM could not allocate the model's tensors; "
                           "rebuild with -DEDGEKIT_ARENA_BYTES=N (a larger N).")
    if r.returncode != 0 or out["done"] != len(xq):
        tail = (r.stderr.strip() or r.stdout.strip()).splitlines()[-2:]
        raise EdgekitError(f"the program on {core} failed (QEMU exit {r.returncode}): {' | '.join(tail)[:300]}")
    return out


def emulate(model_path: str | Path, core: str, tflm_dir: str | Path, *, kernels: str = "cmsis-nn",
            x: np.ndarray | None = None, n: int = 10, seed: int = 0, work_dir: str | Path | None = None,
            inputs_note: str | None = None, runs: int = 1) -> EmulationResult:
    """Run the model's MCU bundle on ``core`` in QEMU on ``n`` inputs and count its instructions.

    ``x``: float samples as the Keras model sees them (quantized with the model's input scale);
    without it, ``n`` uniform random int8 inputs (seed ``seed``). ``work_dir`` keeps the bundle
    and its build (default: a temporary folder). ``runs`` > 1 runs the program again and records
    whether every count and output was the same (QEMU's icount makes them deterministic).
    """
    from edgekit.benchmarking import tflm_build
    from edgekit.convert.mcu import build_mcu_bundle

    board = mcu_build.board(core)
    if kernels not in tflm_build.KERNELS:
        raise EdgekitError(f"--kernels must be one of {', '.join(tflm_build.KERNELS)}, got {kernels!r}.")
    require_tools()
    path = Path(model_path)
    tflm_build.require_sources(tflm_dir)
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="edgekit-emulate-")
        work_dir = tmp.name
    try:
        bundle = Path(work_dir) / "mcu"
        rep = build_mcu_bundle(path, bundle, None, target=None)
        if rep.unsupported_ops:
            raise EdgekitError(f"TFLM has no kernel for {', '.join(rep.unsupported_ops)}; the model cannot run on TFLM.")
        lib = tflm_build.build_library(tflm_dir, core, kernels, ops=rep.ops)
        elf = link(bundle, lib, core, kernels)
        flash, ram = _flash_and_ram(elf)
        if x is not None and len(x):
            xq = quantize_inputs(np.asarray(x)[:n], rep.input.scale or 1.0, rep.input.zero_point or 0, rep.input.dtype)
            note = inputs_note or f"{len(xq)} samples of the data"
        else:
            xq = random_quantized_inputs(rep.input.shape, rep.input.dtype, n, seed)
            note = inputs_note or f"{n} uniform random {rep.input.dtype} inputs (seed {seed})"
        run = run_program(elf, core, xq)
        identical = all(run_program(elf, core, xq) == run for _ in range(runs - 1))
        ref = litert_reference(path, xq)
        got = np.stack([np.frombuffer(o, np.uint8 if rep.output.dtype == "uint8" else np.int8) for o in run["outputs"]])
        delta = np.abs(got.astype(np.int32) - ref.reshape(got.shape).astype(np.int32))
        diff = int(delta.max())
        host = host_tflm(path, xq, 2 * (rep.arena_bytes or 1 << 20))
        host_diff = None if host is None else int((got.astype(np.int32) != host.reshape(got.shape).astype(np.int32)).sum())
        per_sample = [mcu_build.instructions(t, core) for t in run["ticks"]]
        first = run["ops"].get(0, [])
        ops = [OpInstructions(index=i, op=tag, instructions=mcu_build.instructions(t, core)) for i, tag, t in first]
        totals = Counter()
        for o in ops:
            totals[o.op] += o.instructions
        return EmulationResult(
            model=str(path), core=core, machine=board.machine, kernels=kernels, inputs=note, n_samples=len(xq),
            outputs_equal=diff == 0, max_abs_diff_q=diff, values_differing=int((delta > 0).sum()),
            values_compared=int(delta.size), values_differing_host_tflm=host_diff, instructions=int(np.median(per_sample)),
            instructions_per_sample=per_sample, tick_instructions=1e9 / board.clock_hz, ops=ops,
            op_totals=dict(totals), weight_bytes=weight_bytes(path), arena_bytes=rep.arena_bytes,
            arena_used_bytes=run["arena_used"] or 0, program_arena_bytes=run["arena"],
            rounding=tflm_build.ROUNDING, flash_bytes=flash, ram_bytes=ram,
            program=str(bundle / "main.cc"), sources=tflm_build.source_commits(tflm_dir), runs=runs,
            identical_runs=identical,
        )
    finally:
        if tmp is not None:
            tmp.cleanup()
