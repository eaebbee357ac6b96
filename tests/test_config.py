"""Config files (`--config`) and image-folder archives (`--data x.zip`): bad input is one line, nothing escapes.

The CLI runs in this process through typer's CliRunner (TensorFlow is imported once), with real
files; one end-to-end `edgekit train` runs in a subprocess (a 1-epoch MLP, about 10 s).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from edgekit._io import inside
from edgekit.config import load_config
from edgekit.errors import EdgekitError

EDGEKIT = [sys.executable, "-m", "edgekit.cli"]
TRAIN_KEYS = ["epochs", "batch_size", "learning_rate", "patience", "warmup_epochs", "seed", "augment", "flip",
              "colours", "tensorboard", "optimizer",
              "momentum", "nesterov", "weight_decay", "schedule", "decay_rate", "label_smoothing", "loss", "huber_delta",
              "freeze_backbone", "unfreeze", "unfreeze_learning_rate", "unfreeze_epochs"]


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """tmp_path as the only place anything may be written: temporary folders go to tmp_path/tmp."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _cli(*args):
    from edgekit.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def _error_line(res) -> str:
    """The run failed with exit 1 and exactly one `error: ...` line, no traceback."""
    assert res.exit_code == 1, (res.exit_code, res.output)
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _no_files(out: Path):
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*")), list(out.rglob("*"))


# ---------------------------------------------------------------------------------------------
# config files through the CLI


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("command", ["train", "tune", "compress"])
def test_unknown_key_names_the_key_and_the_allowed_ones(sandbox, command):
    cfg = _write(sandbox / f"{command}.toml", "epoch = 3\n")
    args = {"train": ["train", "cnn", "--data", "digits"], "tune": ["tune", "mlp"],
            "compress": ["compress", sandbox / "model.keras", "--data", "digits"]}[command]
    line = _error_line(_cli(*args, "--config", cfg, "--out", sandbox / "out"))
    assert f"{command}.toml: unknown key 'epoch'" in line and "allowed: " in line
    if command == "train":
        assert "did you mean 'epochs'?" in line and "allowed: " + ", ".join(TRAIN_KEYS) in line
    if command == "tune":
        assert "max_latency_ms" in line and "fixed" in line  # the budgets share the file
    _no_files(sandbox / "out")


@pytest.mark.parametrize("command, text, expected", [
    ("train", "epochs = 0\n", "train.toml: epochs: Input should be greater than or equal to 1 (got 0)"),
    ("train", 'batch_size = "many"\n', "train.toml: batch_size: Input should be a valid integer"),
    ("train", "augment = 3.5\n", "train.toml: augment:"),
    ("tune", 'oracle = "grid"\n',
     "tune.toml: oracle: Input should be 'random', 'bayesian' or 'hyperband' (got 'grid')"),
    ("tune", "max_flash_kb = -1\n", "tune.toml: max_flash_kb: Input should be greater than 0 (got -1)"),
    ("tune", 'fixed = "alpha"\n', "tune.toml: fixed: Input should be a valid dictionary (got 'alpha')"),
    ("compress", "sparsity = 1.5\n", "compress.toml: sparsity: Input should be less than 1 (got 1.5)"),
])
def test_bad_value_names_key_problem_and_value(sandbox, command, text, expected):
    cfg = _write(sandbox / f"{command}.toml", text)
    args = {"train": ["train", "cnn", "--data", "digits"], "tune": ["tune", "mlp"],
            "compress": ["compress", sandbox / "model.keras", "--data", "digits"]}[command]
    line = _error_line(_cli(*args, "--config", cfg, "--out", sandbox / "out"))
    assert expected in line, line
    _no_files(sandbox / "out")


@pytest.mark.parametrize("name, content, expected", [
    ("bad.toml", "epochs = 3\nbatch_size = \n", "bad.toml: not valid TOML: Invalid value (at line 2, column 14)"),
    ("dup.toml", "epochs = 3\nepochs = 4\n", "dup.toml: not valid TOML:"),
    ("bad.json", '{\n  "epochs": 3,\n}\n',
     "bad.json: not valid JSON: Expecting property name enclosed in double quotes (at line 3, column 1)"),
    ("list.json", "[1, 2]", "list.json: a JSON config must be an object of settings, got list"),
    ("train.yaml", "epochs: 3\n", "train.yaml: a config file must end in .toml or .json (got '.yaml')"),
    ("latin1.toml", b"# caf\xe9\nepochs = 3\n", "latin1.toml: not UTF-8 text"),
    ("missing.toml", None, "missing.toml: no such config file"),
    ("folder.toml", "DIR", "folder.toml: is a folder; --config takes a .toml or .json file"),
])
def test_unreadable_config_files(sandbox, name, content, expected):
    p = sandbox / name
    if content == "DIR":
        p.mkdir()
    elif isinstance(content, bytes):
        p.write_bytes(content)
    elif content is not None:
        p.write_text(content)
    line = _error_line(_cli("train", "cnn", "--data", "digits", "--config", name, "--out", "out"))
    assert line.startswith(f"error: {expected}"), line
    _no_files(sandbox / "out")


def test_flag_errors_name_the_flag_even_with_a_file(sandbox):
    cfg = _write(sandbox / "train.toml", "epochs = 3\nlearning_rate = 0.01\n")
    assert "error: --epochs: Input should be greater than or equal to 1 (got 0)" in _error_line(
        _cli("train", "cnn", "--data", "digits", "--config", cfg, "--epochs", "0", "--out", "out"))
    assert "error: --lr: Input should be greater than 0 (got -1.0)" in _error_line(
        _cli("train", "cnn", "--data", "digits", "--config", cfg, "--lr", "-1", "--out", "out"))
    # compress --epochs sets four config keys; an error still names --epochs
    assert "error: --epochs:" in _error_line(
        _cli("compress", "model.keras", "--data", "digits", "--config", _write(sandbox / "c.toml", "clusters = 4\n"),
             "--epochs", "0", "--out", "out"))


def test_help_documents_the_config_file():
    res = _cli("train", "--help")
    assert res.exit_code == 0
    text = " ".join(res.output.replace("│", " ").split())
    assert "--config" in text and "TOML or JSON" in text and "override the file" in text
    from edgekit.training import TrainConfig

    assert list(TrainConfig.model_fields) == TRAIN_KEYS  # the help text lists exactly these
    for key in TRAIN_KEYS:
        assert key in text, key


def test_json_config_and_flags_override_it_end_to_end(tmp_path):
    """A real run: the file turns TensorBoard off and asks for 5 epochs; --epochs 1 on the command line wins."""
    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps({"epochs": 5, "batch_size": 64, "tensorboard": False}))
    out = tmp_path / "out"
    res = subprocess.run(EDGEKIT + ["train", "mlp", "--data", "digits_flat", "--config", str(cfg), "--epochs", "1",
                                    "--out", str(out)], capture_output=True, text=True, timeout=180,
                         env=dict(os.environ, TF_USE_LEGACY_KERAS="1"))
    assert res.returncode == 0, res.stderr
    assert "epoch   1/1" in res.stderr  # the flag, not the file's 5
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 1
    assert not (out / "logs").exists()  # the file's tensorboard = false
    assert (out / "model.keras").is_file()


# ---------------------------------------------------------------------------------------------
# load_config / inside as functions


def test_precedence_defaults_file_flags(tmp_path):
    from edgekit.training import TrainConfig

    cfg = _write(tmp_path / "t.toml", "epochs = 7\nbatch_size = 16\n")
    c = load_config(cfg, TrainConfig, overrides={"batch_size": 8}, defaults={"epochs": 40, "seed": 3})
    assert (c.epochs, c.batch_size, c.seed, c.patience) == (7, 8, 3, TrainConfig().patience)
    assert load_config(None, TrainConfig, overrides={"epochs": 2}) == TrainConfig(epochs=2)


@pytest.mark.parametrize("name, text", [("empty.toml", ""), ("comments.toml", "# nothing yet\n"),
                                        ("empty.json", "  \n"), ("object.json", "{}")])
def test_empty_file_means_defaults(tmp_path, name, text):
    from edgekit.training import TrainConfig

    assert load_config(_write(tmp_path / name, text), TrainConfig) == TrainConfig()


def test_tune_file_holds_budgets_and_fixed_merged_with_param(tmp_path):
    from edgekit.tuning import Budgets, TuneConfig

    cfg = tmp_path / "tune.json"
    cfg.write_text(json.dumps({"trials": 3, "oracle": "bayesian", "max_flash_kb": 64,
                               "fixed": {"alpha": 0.35, "pooling": "avg"}}))
    t, b = load_config(cfg, (TuneConfig, Budgets), overrides={"fixed": {"alpha": 0.5}}, merge=("fixed",),
                       defaults={"trials": 10, "epochs": 20})
    assert (t.trials, t.oracle, t.epochs) == (3, "bayesian", 20)
    assert t.fixed == {"alpha": 0.5, "pooling": "avg"}
    assert b == Budgets(max_flash_kb=64)


def test_inside_keeps_paths_in_the_output_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert inside(out, "logs/train") == (out / "logs" / "train").resolve()
    assert inside(out, "a/../b") == (out / "b").resolve()
    for bad in ("../x", "a/../../x", str(tmp_path / "x"), "/etc/passwd"):
        with pytest.raises(EdgekitError, match="outside|absolute"):
            inside(out, bad)
    (out / "escape").symlink_to(tmp_path)
    with pytest.raises(EdgekitError, match="outside"):
        inside(out, "escape/x")


# ---------------------------------------------------------------------------------------------
# archives


def _png(value: int) -> bytes:
    b = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(b, "PNG")
    return b.getvalue()


def _zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            if isinstance(data, zipfile.ZipInfo):
                z.writestr(data, name)  # a ZipInfo carrying a symlink mode; name is the link text
            else:
                z.writestr(name, data)
    return path


def _tar(path: Path, members: list[tuple[str, str, object]]) -> Path:
    """members: (name, kind, payload): kind "file" (bytes), "sym"/"hard" (link target), "chr", "dir"."""
    with tarfile.open(path, "w:gz" if path.name.endswith(".gz") else "w") as t:
        for name, kind, payload in members:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                ti.size = len(payload)
                t.addfile(ti, io.BytesIO(payload))
                continue
            ti.type = {"sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE,
                       "dir": tarfile.DIRTYPE}[kind]
            if kind in ("sym", "hard"):
                ti.linkname = payload
            t.addfile(ti)
    return path


def _evil(root: Path, case: str) -> tuple[Path, str]:
    """An archive that tries to write outside the extraction folder, and the member it must name."""
    outside = root / "outside"
    outside.mkdir(exist_ok=True)
    ok = {"cat/0.png": _png(1), "dog/0.png": _png(2)}
    if case == "zip_slip":
        return _zip(root / "slip.zip", {**ok, "../evil.png": _png(3)}), "'../evil.png'"
    if case == "zip_slip_deep":
        return _zip(root / "deep.zip", {**ok, "cat/../../../evil.png": _png(3)}), "'cat/../../../evil.png'"
    if case == "zip_backslash":
        return _zip(root / "bs.zip", {**ok, "..\\..\\evil.png": _png(3)}), "evil.png"
    if case == "zip_absolute":
        return _zip(root / "abs.zip", {**ok, str(outside / "evil.png"): _png(3)}), str(outside / "evil.png")
    if case == "zip_symlink":
        link = zipfile.ZipInfo("cat/1.png")
        link.external_attr = 0o120777 << 16
        return _zip(root / "link.zip", {**ok, str(outside): link}), "'cat/1.png' is a symlink"
    if case == "tar_slip":
        return _tar(root / "slip.tar.gz", [("cat/0.png", "file", _png(1)), ("../evil.png", "file", _png(3))]), \
            "'../evil.png'"
    if case == "tar_absolute":
        return _tar(root / "abs.tar", [(str(outside / "evil.png"), "file", _png(3))]), str(outside / "evil.png")
    if case == "tar_symlink_then_write":  # the classic: a link to a folder outside, then a file through it
        return _tar(root / "sym.tar.gz", [("cat", "sym", str(outside)), ("cat/evil.png", "file", _png(3))]), \
            "'cat' is a symlink"
    if case == "tar_relative_symlink":
        return _tar(root / "rsym.tar", [("cat", "dir", None), ("cat/x.png", "sym", "../../../outside/evil.png")]), \
            "'cat/x.png' is a symlink to '../../../outside/evil.png' (outside the extraction folder)"
    if case == "tar_hardlink":
        return _tar(root / "hard.tar", [("cat/x.png", "hard", str(outside / "evil.png"))]), "'cat/x.png' is a hard link"
    if case == "tar_device":
        return _tar(root / "dev.tar", [("cat/0.png", "file", _png(1)), ("cat/null", "chr", None)]), \
            "'cat/null' is a device file"
    raise AssertionError(case)


EVIL = ["zip_slip", "zip_slip_deep", "zip_backslash", "zip_absolute", "zip_symlink", "tar_slip", "tar_absolute",
        "tar_symlink_then_write", "tar_relative_symlink", "tar_hardlink", "tar_device"]


@pytest.mark.parametrize("case", EVIL)
def test_hostile_archives_are_refused_before_anything_is_written(sandbox, case):
    archive, member = _evil(sandbox, case)
    before = _tree(sandbox)
    line = _error_line(_cli("train", "cnn", "--data", archive, "--epochs", "1", "--out", sandbox / "out"))
    assert archive.name in line and member in line, line
    assert _tree(sandbox) == before  # nothing outside, no leftover extraction folder, no output
    assert not any((sandbox / "outside").iterdir())
    assert not (sandbox / "evil.png").exists() and not (sandbox.parent / "evil.png").exists()
    _no_files(sandbox / "out")


def test_good_archives_load_with_the_folder_loader(sandbox):
    from edgekit.data import load_dataset

    members = {f"pets/{c}/{i}.png": _png(40 * k + i) for k, c in enumerate(("cat", "dog", "owl")) for i in range(10)}
    members["__MACOSX/pets/._cat"] = b"resource fork"  # skipped, not a class
    z = _zip(sandbox / "pets.zip", members)
    t = _tar(sandbox / "flat.tar.gz", [("./", "dir", None)] + [(n.split("/", 1)[1], "file", d)
                                                                 for n, d in members.items() if n.startswith("pets/")])
    for archive in (z, t):
        ds = load_dataset(archive, input_shape=(8, 8, 3), seed=0)
        assert ds.class_names == ["cat", "dog", "owl"] and ds.name == archive.name
        assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 30
        assert sorted(np.unique(np.concatenate([ds.y_train, ds.y_val, ds.y_test]))) == [0, 1, 2]
    assert not any((sandbox / "tmp").iterdir())  # the extraction folder is gone


def test_archive_errors_name_the_archive_not_the_temporary_folder(sandbox):
    from edgekit.data import load_dataset

    one_class = _zip(sandbox / "one.zip", {"top/cat/0.png": _png(1), "top/cat/1.png": _png(2)})
    with pytest.raises(EdgekitError, match=r"^one\.zip/top: an image folder needs one subfolder per class"):
        load_dataset(one_class)
    (sandbox / "junk.tar.gz").write_bytes(b"not a tar at all")
    with pytest.raises(EdgekitError, match=r"junk\.tar\.gz: not a readable tar archive") as e:
        load_dataset(sandbox / "junk.tar.gz")
    assert "\n" not in str(e.value)
    assert not any((sandbox / "tmp").iterdir())


def test_a_bad_train_config_is_refused_before_tensorflow_starts(tmp_path):
    """Settings are checked first: a typo answers at once instead of after TensorFlow's import."""
    import subprocess
    import sys

    bad = tmp_path / "train.toml"
    bad.write_text("epoch = 3\n")
    code = ("import sys; from edgekit.cli import main\n"
            f"sys.argv = ['edgekit', 'train', 'mlp', '--data', 'digits_flat', '--config', {str(bad)!r}, "
            f"'--out', {str(tmp_path / 'out')!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    print('exit', e.code, 'tensorflow' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "unknown key 'epoch'" in res.stderr and res.stdout.split() == ["exit", "1", "False"], (res.stdout, res.stderr)
