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


def build_library(tflm_dir: str | Path, core: str, kernels: str = "cmsis-nn", *, jobs: int = 2,
                  nice: int = 15, log=None) -> Library:
    """``libtensorflow-microlite.a`` for ``core`` built by TFLM's own Makefile, cached per TFLM
    commit, core and kernels (a second call returns at once)."""
    if core not in TARGET_ARCH:
        raise EdgekitError(f"--core must be one of {', '.join(TARGET_ARCH)}, got {core!r}.")
    if kernels not in KERNELS:
        raise EdgekitError(f"--kernels must be one of {', '.join(KERNELS)}, got {kernels!r}.")
    t = Path(tflm_dir).expanduser().resolve()
    require_sources(t)
    commit = source_commits(t)["tflite-micro"][:12]
    gen = cache_root() / f"{commit}-{core}-{kernels}"
    lib = _lib_in(gen)
    if lib is not None:
        return Library(lib, t, core, kernels, TARGET_ARCH[core])
    try:
        import PIL  # noqa: F401  (TFLM's Makefile runs a script that imports it while the Makefile is read)
    except ImportError as e:
        raise EdgekitError("TFLM's Makefile needs Pillow importable: pip install pillow.") from e
    cmd = ["nice", "-n", str(nice), "make", "-f", f"{MAKE_DIR}/Makefile", f"-j{jobs}",
           "TARGET=cortex_m_generic", f"TARGET_ARCH={TARGET_ARCH[core]}", f"BUILD_TYPE={BUILD_TYPE}",
           f"BASE_GENDIR={gen}", "microlite"]
    if KERNELS[kernels]:
        cmd.insert(-1, f"OPTIMIZED_KERNEL_DIR={KERNELS[kernels]}")
    gen.mkdir(parents=True, exist_ok=True)
    with open(gen / "build.log", "w") as f:
        r = subprocess.run(cmd, cwd=t, stdout=f, stderr=subprocess.STDOUT)
    lib = _lib_in(gen)
    if r.returncode != 0 or lib is None:
        tail = (gen / "build.log").read_text(errors="replace").strip().splitlines()[-3:]
        raise EdgekitError(f"building TFLM for {core} failed (log {gen / 'build.log'}): {' | '.join(tail)[:300]}")
    return Library(lib, t, core, kernels, TARGET_ARCH[core])


def _lib_in(gen: Path) -> Path | None:
    found = sorted(gen.glob("*/lib/libtensorflow-microlite.a")) if gen.is_dir() else []
    return found[0] if found else None
