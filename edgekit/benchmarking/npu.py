"""Arm Ethos-U55 / U65 estimates through ethos-u-vela (run as a subprocess; no TensorFlow).

    estimate_npu("model_int8.tflite", "ethos-u55-128") -> NpuEstimate

Vela compiles a fully int8 TFLite model for the NPU and estimates SRAM and flash use, how many
operators run on the NPU and how many fall back to the CPU, MACs, cycles and inference time.
These are vela's static performance estimates for one system configuration, not measurements.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pydantic import BaseModel

from edgekit.errors import EdgekitError

# The system configuration and memory mode vela should assume for each accelerator (from the
# Arm/vela.ini shipped with vela). Explicit, so the figures do not depend on vela's defaults.
ACCELERATORS: dict[str, tuple[str, str]] = {
    "ethos-u55-128": ("Ethos_U55_High_End_Embedded", "Shared_Sram"),
    "ethos-u65-256": ("Ethos_U65_High_End", "Dedicated_Sram"),
}
DEFAULT_TIMEOUT = 300.0


class NpuEstimate(BaseModel):
    accelerator: str  # e.g. "ethos-u55-128"
    system_config: str
    memory_mode: str
    clock_hz: float
    sram_bytes: int  # peak SRAM vela allocated (feature maps, and weights if cached)
    flash_bytes: int  # on- and off-chip flash (weights and the command stream)
    dram_bytes: int = 0  # DRAM, where U65 system configs keep the weights
    weights_storage: str = ""
    npu_ops: int  # operators (vela's passes) the NPU runs
    cpu_ops: int  # operators left to the CPU (TFLM kernels)
    cycles: int  # total cycles, NPU and memory access overlapped as vela models it
    cycles_npu: int = 0
    inference_ms: float
    macs: int
    vela_version: str = ""


def _vela_executable() -> str:
    exe = Path(sys.executable).parent / "vela"
    if exe.is_file():
        return str(exe)
    found = shutil.which("vela")
    if found:
        return found
    raise EdgekitError("the Ethos-U estimate needs the ethos-u-vela package (its `vela` command was not found); "
                       "reinstall edgekit (`pip install -e .` in its folder) or run `pip install ethos-u-vela`.")


def _check_int8(path: Path) -> None:
    from ai_edge_litert import schema_py_generated as schema

    from edgekit import tflite_file

    model = tflite_file.open_tflite(path, hint="the NPU estimate needs an int8 .tflite").model  # parsed once per run
    sg = model.subgraphs[0]
    ins, _ = tflite_file.io_types(model)
    float_weights = any(
        t.type == schema.TensorType.FLOAT32 and t.buffer and model.buffers[t.buffer].data is not None
        and len(model.buffers[t.buffer].data) > 0
        for t in sg.tensors
    )
    if any(t not in ("INT8", "UINT8", "INT16") for t in ins) or float_weights:
        raise EdgekitError(
            f"{path} is not a full-int8 model (input {'/'.join(ins)}{', float weights' if float_weights else ''}); "
            "Ethos-U needs int8: export with --precision int8 and calibration data."
        )


def _csv_float(row: dict, key: str, default: float = 0.0) -> float:
    try:
        return float(row.get(key, default) or default)
    except ValueError:
        return default


def estimate_npu(int8_tflite_path: str | Path, accelerator: str = "ethos-u55-128",
                 *, timeout: float = DEFAULT_TIMEOUT) -> NpuEstimate:
    """Compile ``int8_tflite_path`` with vela for ``accelerator`` and read its summary."""
    path = Path(int8_tflite_path)
    if accelerator not in ACCELERATORS:
        raise EdgekitError(f"unknown accelerator {accelerator!r}; choose one of {', '.join(ACCELERATORS)}.")
    if not path.is_file():
        raise EdgekitError(f"{path}: no such file. Check the path to the int8 .tflite model.")
    _check_int8(path)
    system, memory = ACCELERATORS[accelerator]
    vela = _vela_executable()
    with tempfile.TemporaryDirectory(prefix="edgekit-vela-") as tmp:
        # vela names its outputs after the input's stem; a copy with a plain name avoids surprises.
        src = Path(tmp) / "model.tflite"
        shutil.copyfile(path, src)
        out_dir = Path(tmp) / "out"
        cmd = [
            vela, str(src),
            "--accelerator-config", accelerator,
            "--config", "Arm/vela.ini",
            "--system-config", system,
            "--memory-mode", memory,
            "--output-dir", str(out_dir),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise EdgekitError(f"{path}: vela did not finish within {timeout:.0f} s for {accelerator}.") from None
        if proc.returncode != 0:
            lines = [ln.strip() for ln in (proc.stderr + "\n" + proc.stdout).splitlines() if ln.strip()]
            errs = [ln for ln in lines if "error" in ln.lower()]
            last = (errs or lines or ["no output"])[-1][:200]
            raise EdgekitError(f"{path}: vela failed for {accelerator} (exit {proc.returncode}): {last}")
        csvs = sorted(out_dir.glob("*_summary_*.csv"))
        if not csvs:
            raise EdgekitError(f"{path}: vela wrote no summary CSV for {accelerator}; run vela by hand to see why.")
        with open(csvs[0], newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            raise EdgekitError(f"{path}: vela's summary CSV for {accelerator} is empty.")
        row = rows[0]
    text = proc.stdout
    m_cpu = re.search(r"CPU operators\s*=\s*(\d+)", text)
    m_npu = re.search(r"NPU operators\s*=\s*(\d+)", text)
    if not (m_cpu and m_npu):
        raise EdgekitError(f"{path}: vela's summary has no operator counts; this vela version is not supported.")
    kib = 1024.0
    return NpuEstimate(
        accelerator=accelerator,
        system_config=row.get("system_config", system),
        memory_mode=row.get("memory_mode", memory),
        clock_hz=_csv_float(row, "core_clock"),
        sram_bytes=round(_csv_float(row, "sram_memory_used") * kib),
        flash_bytes=round((_csv_float(row, "on_chip_flash_memory_used") + _csv_float(row, "off_chip_flash_memory_used")) * kib),
        dram_bytes=round(_csv_float(row, "dram_memory_used") * kib),
        weights_storage=row.get("weights_storage_area", ""),
        npu_ops=int(m_npu.group(1)),
        cpu_ops=int(m_cpu.group(1)),
        cycles=int(_csv_float(row, "cycles_total")),
        cycles_npu=int(_csv_float(row, "cycles_npu")),
        inference_ms=_csv_float(row, "inference_time") * 1e3,
        macs=int(_csv_float(row, "nn_macs")),
        vela_version=_vela_version(),
    )


def _vela_version() -> str:
    try:
        from importlib.metadata import version

        return version("ethos-u-vela")
    except Exception:  # pragma: no cover
        return ""


def estimate_npus(int8_tflite_path: str | Path, accelerators=tuple(ACCELERATORS)) -> list[NpuEstimate]:
    """One estimate per accelerator (U55-128 and U65-256 by default)."""
    return [estimate_npu(int8_tflite_path, a) for a in accelerators]
