"""TensorFlow Lite Micro built for a Cortex-M core, from a checkout the user points to.

TFLM's own Makefile builds ``libtensorflow-microlite.a`` for ``TARGET=cortex_m_generic`` with no
network once ``tensorflow/lite/micro/tools/make/downloads/`` holds each third-party tree at the
commit TFLM pins (its download scripts skip what exists). None of these trees are on a package
registry, so edgekit never downloads them: :func:`prepare_downloads` extracts them from local
clones of the public repositories, at the commits read from the checkout's own scripts, and
:func:`build_library` runs TFLM's Makefile once per (TFLM commit, core, kernels) into a cache.

    prepare_downloads("~/src/tflite-micro", "~/src")   # clones named flatbuffers, CMSIS-NN, ...
    build_library("~/src/tflite-micro", "cortex-m4", "cmsis-nn") -> Library
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import EdgekitError

MAKE_DIR = "tensorflow/lite/micro/tools/make"
DOWNLOADS = f"{MAKE_DIR}/downloads"

# core -> TFLM's TARGET_ARCH (the hard-float variant where the core has an FPU, as the
# MLPerf Tiny submissions built it).
TARGET_ARCH = {"cortex-m4": "cortex-m4+fp", "cortex-m33": "cortex-m33", "cortex-m55": "cortex-m55"}
KERNELS = {"cmsis-nn": "cmsis_nn", "reference": ""}
# release_with_logs: NDEBUG as in a release build (what a latency is measured on), error strings kept.
BUILD_TYPE = "release_with_logs"
# Requantization rounded as LiteRT's kernels round it, op by op. LiteRT (ai-edge-litert 2.3) is not
# built with TFLITE_SINGLE_ROUNDING: its reference convolutions round twice (gemmlowp's doubling
# high multiply, then a rounding shift), as TFLM and CMSIS-NN do by default, but its int8 fully
# connected layers round once. Checked layer by layer with preserved intermediates: every conv
# output equal to two roundings and not to one, every dense output equal to one and not to two.
# TFLM's default made the dense autoencoder differ from LiteRT by up to 2 in 1,233 of 6,400 outputs.
# CMSIS-NN's requantization is an inline function of its header, so its fully connected sources
# compiled with CMSIS_NN_USE_SINGLE_ROUNDING round once and everything else keeps two roundings.
# (TFLM's portable fully connected kernel calls one shared, compiled function: with --kernels
# reference it keeps two roundings.)
SINGLE_ROUNDING_DEFINE = "-DCMSIS_NN_USE_SINGLE_ROUNDING"
ROUNDING = "litert"  # part of the library's cache key
# CMSIS-NN sources of the fully connected layer (batch-1 dense layers; a batched dense layer runs as a
# 1x1 convolution, shared with CONV_2D, and keeps two roundings).
SINGLE_ROUNDING_SOURCES = ("/Source/FullyConnectedFunctions/", "/Source/NNSupportFunctions/arm_nn_vec_mat_mult_t")
# TFLM's Makefile builds its ADDITIONAL_DEFINES from -D<OPTIMIZED_KERNEL_DIR> and
# -D<OPTIMIZE_KERNELS_FOR> (default KERNELS_OPTIMIZED_FOR_SPEED: CMSIS-NN's fully connected layer
# then precomputes its kernel sums); passing the variable replaces all of it, so both are repeated.
OPTIMIZE_KERNELS_FOR = "KERNELS_OPTIMIZED_FOR_SPEED"


def single_rounding_defines(kernels: str) -> str:
    """TFLM's ADDITIONAL_DEFINES for the objects that round once: its own defines plus CMSIS-NN's."""
    own = [f"-D{KERNELS[kernels].upper()}"] if KERNELS[kernels] else []
    return " ".join([*own, f"-D{OPTIMIZE_KERNELS_FOR}", SINGLE_ROUNDING_DEFINE])


def rounds_once(obj: str) -> bool:
    return any(part in obj for part in SINGLE_ROUNDING_SOURCES)


@dataclass(frozen=True)
class Pin:
    """One third-party tree: the public repository, the commit or tag TFLM pins, where it goes
    under downloads/, and TFLM's patch for it (relative to the checkout)."""

    name: str  # the clone's folder name expected by prepare_downloads
    url: str
    ref: str
    dest: str
    patch: str | None = None


def _read(tflm: Path, rel: str) -> str:
    p = tflm / rel
    if not p.is_file():
        raise EdgekitError(f"{tflm} is not a tflite-micro checkout ({rel} is missing); "
                           "clone https://github.com/tensorflow/tflite-micro and pass its folder.")
    return p.read_text()


def _one(pattern: str, text: str, what: str) -> str:
    m = re.search(pattern, text)
    if not m:
        raise EdgekitError(f"cannot read the pinned {what} from this tflite-micro checkout; "
                           "edgekit knows the layout of tflite-micro 2025-2026.")
    return m.group(1)


def pins(tflm_dir: str | Path) -> list[Pin]:
    """The third-party trees this TFLM checkout pins, read from its download scripts."""
    t = Path(tflm_dir).expanduser()
    inc = _read(t, f"{MAKE_DIR}/third_party_downloads.inc")
    cmsis = _read(t, f"{MAKE_DIR}/ext_libs/cmsis_download.sh")
    cmsis_prefixes = re.findall(r'ZIP_PREFIX="([0-9a-f]{40})"', cmsis)
    if len(cmsis_prefixes) != 2:
        raise EdgekitError("cannot read the pinned CMSIS_6 / Cortex_DFP commits from this tflite-micro checkout.")
    return [
        Pin("flatbuffers", "https://github.com/google/flatbuffers",
            _one(r'ZIP_PREFIX="(v[0-9.]+)"', _read(t, f"{MAKE_DIR}/flatbuffers_download.sh"), "flatbuffers tag"),
            "flatbuffers", f"{MAKE_DIR}/flatbuffers.patch"),
        Pin("gemmlowp", "https://github.com/google/gemmlowp",
            _one(r"gemmlowp/archive/([0-9a-f]{40})\.zip", inc, "gemmlowp commit"), "gemmlowp"),
        Pin("ruy", "https://github.com/google/ruy", _one(r"ruy/archive/([0-9a-f]{40})\.zip", inc, "ruy commit"), "ruy"),
        Pin("kissfft", "https://github.com/mborgerding/kissfft",
            _one(r"kissfft/archive/refs/tags/(v[0-9]+)\.zip", inc, "kissfft tag"), "kissfft",
            "third_party/kissfft/kissfft.patch"),
        Pin("CMSIS_6", "https://github.com/ARM-software/CMSIS_6", cmsis_prefixes[0], "cmsis"),
        Pin("Cortex_DFP", "https://github.com/ARM-software/Cortex_DFP", cmsis_prefixes[1], "cmsis/Cortex_DFP"),
        Pin("CMSIS-NN", "https://github.com/ARM-software/CMSIS-NN",
            _one(r'ZIP_PREFIX_NN="([0-9a-f]{40})"', _read(t, f"{MAKE_DIR}/ext_libs/cmsis_nn_download.sh"),
                 "CMSIS-NN commit"), "cmsis_nn"),
    ]


def missing_sources(tflm_dir: str | Path) -> list[str]:
    """The downloads/ folders a Cortex-M build needs that are not there (empty: ready)."""
    d = Path(tflm_dir).expanduser() / DOWNLOADS
    need = [p.dest for p in pins(tflm_dir)] + ["pigweed", "gcc_embedded"]
    return [n for n in need if not (d / n).exists()]


def require_sources(tflm_dir: str | Path) -> None:
    """One line saying what to get and where to put it, when the build cannot run offline."""
    t = Path(tflm_dir).expanduser()
    missing = missing_sources(t)
    if missing:
        urls = {p.dest: f"{p.url} at {p.ref}" for p in pins(t)}
        what = "; ".join(f"{m} ({urls[m]})" if m in urls else m for m in missing)
        raise EdgekitError(
            f"{t / DOWNLOADS} lacks {what}: clone those repositories into one folder (folder names "
            f"{', '.join(p.name for p in pins(t))}) and run `edgekit emulate --prepare-from FOLDER --tflm {t}`."
        )


def _git_tree(repo: Path, ref: str, dest: Path) -> None:
    """Extract ``ref`` of a local git repository (bare or not) into ``dest``."""
    with tempfile.TemporaryDirectory() as tmp:
        tar = Path(tmp) / "t.tar"
        with open(tar, "wb") as f:
            r = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", ref], stdout=f,
                               stderr=subprocess.PIPE, text=False)
        if r.returncode != 0:
            raise EdgekitError(f"{repo} has no {ref} ({r.stderr.decode(errors='replace').strip()[:160]}); "
                               "fetch it there (git fetch --tags) and try again.")
        part = dest.with_name(dest.name + ".partial")
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        with tarfile.open(tar) as tf:
            tf.extractall(part, filter="tar")
        os.replace(part, dest)


def _find_repo(repos_dir: Path, name: str) -> Path:
    for cand in (repos_dir / name, repos_dir / f"{name}.git", repos_dir / name / "repo"):
        if (cand / "HEAD").is_file() or (cand / ".git").exists():
            return cand
    raise EdgekitError(f"no git clone of {name} under {repos_dir} (looked for {name}, {name}.git, {name}/repo).")


def prepare_downloads(tflm_dir: str | Path, repos_dir: str | Path) -> list[str]:
    """Fill the checkout's downloads/ from local clones (``repos_dir/<name>``) at the pinned
    commits, apply TFLM's patches, add the empty ``pigweed/`` (only TFLM's tests use it) and point
    ``gcc_embedded`` at the system arm-none-eabi toolchain. Returns what it added."""
    t = Path(tflm_dir).expanduser().resolve()
    repos = Path(repos_dir).expanduser().resolve()
    down = t / DOWNLOADS
    down.mkdir(parents=True, exist_ok=True)
    added = []
    # cmsis before cmsis/Cortex_DFP: the parent folder is one tree, the DFP goes inside it.
    for pin in pins(t):
        dest = down / pin.dest
        if dest.exists():
            continue
        _git_tree(_find_repo(repos, pin.name), pin.ref, dest)
        for build in [*dest.rglob("BUILD"), *dest.rglob("BUILD.bazel")] if pin.name == "flatbuffers" else []:
            build.unlink()
        if pin.patch:
            r = subprocess.run(["git", "apply", "--ignore-space-change", "--ignore-whitespace",
                                str(t / pin.patch)], cwd=dest, capture_output=True, text=True)
            if r.returncode != 0:
                shutil.rmtree(dest)
                raise EdgekitError(f"TFLM's {pin.patch} does not apply to {pin.name} {pin.ref}: {r.stderr.strip()[:160]}")
        added.append(f"{pin.dest} ({pin.ref})")
    if not (down / "pigweed").exists():
        (down / "pigweed").mkdir()
        added.append("pigweed (empty)")
    gcc = shutil.which("arm-none-eabi-gcc")
    if not (down / "gcc_embedded").exists():
        if gcc is None:
            raise EdgekitError("arm-none-eabi-gcc is not installed: apt-get install gcc-arm-none-eabi "
                               "libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib.")
        (down / "gcc_embedded").symlink_to(Path(gcc).resolve().parent.parent)
        added.append(f"gcc_embedded -> {Path(gcc).resolve().parent.parent}")
    return added


def source_commits(tflm_dir: str | Path) -> dict[str, str]:
    """The TFLM commit (``git rev-parse HEAD``, or 'unknown') and each pinned tree's ref."""
    t = Path(tflm_dir).expanduser()
    r = subprocess.run(["git", "-C", str(t), "rev-parse", "HEAD"], capture_output=True, text=True)
    out = {"tflite-micro": r.stdout.strip() if r.returncode == 0 else "unknown"}
    out.update({p.name: p.ref for p in pins(t)})
    return out


@dataclass(frozen=True)
class Library:
    path: Path  # libtensorflow-microlite.a
    tflm_dir: Path
    core: str
    kernels: str
    target_arch: str


def cache_root() -> Path:
    return Path(os.environ.get("EDGEKIT_CACHE", Path.home() / ".cache" / "edgekit")) / "tflm"


# TFLM kernel files (tensorflow/lite/micro/kernels/[cmsis_nn/]<stem>.cc) of a builtin op, where the
# stem is not the op's name in lower case; <stem>_common.cc comes with it.
_KERNEL_STEMS = {
    "AVERAGE_POOL_2D": "pooling", "MAX_POOL_2D": "pooling", "RELU": "activations", "RELU6": "activations",
    "MEAN": "reduce", "SUM": "reduce", "REDUCE_MAX": "reduce", "REDUCE_MIN": "reduce", "MAXIMUM": "maximum_minimum",
    "MINIMUM": "maximum_minimum", "DEPTHWISE_CONV_2D": "depthwise_conv", "CONV_2D": "conv",
    "LOGISTIC": "logistic", "TANH": "tanh", "ARG_MAX": "arg_min_max", "ARG_MIN": "arg_min_max",
    "EQUAL": "comparisons", "NOT_EQUAL": "comparisons", "GREATER": "comparisons", "LESS": "comparisons",
    "GREATER_EQUAL": "comparisons", "LESS_EQUAL": "comparisons", "UNIDIRECTIONAL_SEQUENCE_LSTM":
    "unidirectional_sequence_lstm", "L2_NORMALIZATION": "l2norm", "SELECT_V2": "select", "PADV2": "pad",
    "ABS": "elementwise", "SQRT": "elementwise", "RSQRT": "elementwise", "SQUARE": "elementwise",
    "SIN": "elementwise", "COS": "elementwise", "LOG": "elementwise",
}
# CMSIS-NN source folders (Source/<folder>/) the CMSIS-NN version of a kernel calls into.
_CMSIS_NN_DIRS = {
    # The depthwise wrapper transposes weights on Helium cores (arm_transpose_s8).
    "conv": ["ConvolutionFunctions"], "depthwise_conv": ["ConvolutionFunctions", "TransposeFunctions"],
    "transpose_conv": ["ConvolutionFunctions"],
    # A fully connected layer over a batch of rows runs as a 1x1 convolution (arm_convolve_1x1_s8_fast).
    "fully_connected": ["FullyConnectedFunctions", "ConvolutionFunctions"],
    "batch_matmul": ["FullyConnectedFunctions"], "pooling": ["PoolingFunctions"], "softmax": ["SoftmaxFunctions"],
    "add": ["BasicMathFunctions"], "mul": ["BasicMathFunctions"], "maximum_minimum": ["BasicMathFunctions"],
    "pad": ["PadFunctions"], "transpose": ["TransposeFunctions"], "svdf": ["SVDFunctions"],
    "unidirectional_sequence_lstm": ["LSTMFunctions"],
}
_ALWAYS = {"kernel_util", "micro_tensor_utils"}
# Core files only tests and the recording allocator use: a program never links them.
_TEST_ONLY = {"test_helpers", "test_helper_custom_ops", "mock_micro_graph", "recording_micro_allocator",
              "recording_single_arena_buffer_allocator", "fake_micro_context"}
_ALWAYS_CMSIS_NN = {"NNSupportFunctions", "ActivationFunctions"}


def _stems(ops) -> set[str]:
    return {_KERNEL_STEMS.get(op, op.lower()) for op in ops}


def _objects(tflm: Path, make_args: list[str]) -> dict[str, list[str]]:
    """The object files TFLM's Makefile would archive, by its own variables."""
    names = ["MICROLITE_LIB_OBJS", "MICROLITE_KERNEL_OBJS", "MICROLITE_THIRD_PARTY_OBJS",
             "MICROLITE_THIRD_PARTY_KERNEL_OBJS"]
    with tempfile.NamedTemporaryFile("w", suffix=".mk", delete=False) as f:
        f.write("print-%:\n\t@echo $($*)\n")
    try:
        # One invocation: reading TFLM's Makefile runs scripts and takes seconds.
        r = subprocess.run(["make", "-s", "-f", f"{MAKE_DIR}/Makefile", "-f", f.name, *make_args,
                            *[f"print-{n}" for n in names]], cwd=tflm, capture_output=True, text=True)
        if r.returncode != 0:
            raise EdgekitError(f"TFLM's Makefile did not load: {r.stderr.strip()[-300:]}")
        lines = [ln for ln in r.stdout.splitlines() if ".o" in ln or not ln.strip()][-len(names):]
        return {n: ln.split() for n, ln in zip(names, lines)}
    finally:
        os.unlink(f.name)


def _select(objs: dict[str, list[str]], ops) -> list[str]:
    """Core objects, the kernels of ``ops`` and the CMSIS-NN folders those kernels call."""
    stems = _stems(ops)
    keep = set(stems) | {f"{s}_common" for s in stems} | _ALWAYS
    kernels = [o for o in objs["MICROLITE_KERNEL_OBJS"]
               if "/micro/kernels/" in o and "/signal/" not in o and Path(o).stem in keep]
    dirs = set(_ALWAYS_CMSIS_NN) | {d for s in stems for d in _CMSIS_NN_DIRS.get(s, [])}
    third = [o for o in objs["MICROLITE_THIRD_PARTY_KERNEL_OBJS"] if any(f"/Source/{d}/" in o for d in dirs)]
    core = [o for o in objs["MICROLITE_LIB_OBJS"] if Path(o).stem not in _TEST_ONLY]
    return core + objs["MICROLITE_THIRD_PARTY_OBJS"] + kernels + third


def build_library(tflm_dir: str | Path, core: str, kernels: str = "cmsis-nn", *, ops=None, jobs: int = 2,
                  nice: int = 15) -> Library:
    """``libtensorflow-microlite.a`` for ``core``, compiled by TFLM's own Makefile rules and flags,
    cached per TFLM commit, core and kernels.

    ``ops`` (builtin op names): compile only TFLM's core, those operators' kernels and the CMSIS-NN
    functions they call, not all ~300 files (about a tenth of the time on a loaded machine); the
    archive holds every object compiled so far, so a later model with other ops adds to it.
    ``ops=None`` builds every object of TFLM's ``microlite`` target. CMSIS-NN's fully connected
    objects are compiled in a second make run with single rounding (see ROUNDING above).
    """
    if core not in TARGET_ARCH:
        raise EdgekitError(f"--core must be one of {', '.join(TARGET_ARCH)}, got {core!r}.")
    if kernels not in KERNELS:
        raise EdgekitError(f"--kernels must be one of {', '.join(KERNELS)}, got {kernels!r}.")
    t = Path(tflm_dir).expanduser().resolve()
    require_sources(t)
    try:
        import PIL  # noqa: F401  (TFLM's Makefile runs a script that imports it while the Makefile is read)
    except ImportError as e:
        raise EdgekitError("TFLM's Makefile needs Pillow importable: pip install pillow.") from e
    commit = source_commits(t)["tflite-micro"][:12]
    gen = cache_root() / f"{commit}-{core}-{kernels}-{ROUNDING}-rounding"
    gen.mkdir(parents=True, exist_ok=True)
    args = ["TARGET=cortex_m_generic", f"TARGET_ARCH={TARGET_ARCH[core]}", f"BUILD_TYPE={BUILD_TYPE}",
            f"BASE_GENDIR={gen}"]
    if KERNELS[kernels]:
        args.append(f"OPTIMIZED_KERNEL_DIR={KERNELS[kernels]}")
    lib = gen / "edgekit" / "libtensorflow-microlite.a"
    built = gen / "edgekit" / "ops.txt"  # the ops whose kernels the archive already holds
    done = set(built.read_text().split()) if built.is_file() else set()
    if lib.is_file() and ("*" in done or (ops is not None and set(ops) <= done)):
        return Library(lib, t, core, kernels, TARGET_ARCH[core])
    objs = _objects(t, args)
    wanted = [o for v in objs.values() for o in v] if ops is None else _select(objs, ops)
    targets = [o for o in wanted if not Path(o).is_file()]
    # Python on PATH must be the one with Pillow: TFLM's Makefile calls `python3`.
    env = dict(os.environ, PATH=f"{Path(os.sys.executable).parent}:{os.environ.get('PATH', '')}")
    once = [o for o in targets if rounds_once(o)]
    for extra, batch in (([], [o for o in targets if not rounds_once(o)]),
                         ([f"ADDITIONAL_DEFINES={single_rounding_defines(kernels)}"], once)):
        if not batch:
            continue
        cmd = ["nice", "-n", str(nice), "make", "-f", f"{MAKE_DIR}/Makefile", f"-j{jobs}", *args, *extra, *batch]
        with open(gen / "build.log", "a") as f:
            r = subprocess.run(cmd, cwd=t, stdout=f, stderr=subprocess.STDOUT, env=env)
        if r.returncode != 0:
            tail = (gen / "build.log").read_text(errors="replace").strip().splitlines()[-3:]
            raise EdgekitError(f"building TFLM for {core} failed (log {gen / 'build.log'}): {' | '.join(tail)[:300]}")
    lib = _archive(gen, core)
    built.parent.mkdir(parents=True, exist_ok=True)
    built.write_text("\n".join(sorted(done | set(ops or ["*"]))) + "\n")
    return Library(lib, t, core, kernels, TARGET_ARCH[core])


def _archive(gen: Path, core: str) -> Path:
    """Every object compiled so far under ``gen`` in one archive (rebuilt when one is newer)."""
    objs = sorted(gen.glob("*/obj/**/*.o"))
    lib = gen / "edgekit" / "libtensorflow-microlite.a"
    if lib.is_file() and all(o.stat().st_mtime <= lib.stat().st_mtime for o in objs):
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    part = lib.with_suffix(".partial")
    part.unlink(missing_ok=True)
    r = subprocess.run(["arm-none-eabi-ar", "rcs", str(part), *map(str, objs)], capture_output=True, text=True)
    if r.returncode != 0:
        raise EdgekitError(f"arm-none-eabi-ar failed: {r.stderr.strip()[:200]}")
    os.replace(part, lib)
    return lib
