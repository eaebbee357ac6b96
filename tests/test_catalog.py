"""Issue 20: `edgekit models` reads a table generated from the registry (no 30 s build), and --version."""

from __future__ import annotations

import subprocess
import sys


def test_models_lists_without_importing_tensorflow(repo_root):
    code = ("import sys; from typer.testing import CliRunner; from edgekit.cli import app; "
            "r = CliRunner().invoke(app, ['models']); assert r.exit_code == 0, r.output; "
            "assert 'mobilenet_v2' in r.output and '300.8 M' in r.output, r.output; "
            "print('tf' if 'tensorflow' in sys.modules else 'no-tf')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo_root,
                         env={"PYTHONPATH": str(repo_root), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("no-tf")


def test_catalog_matches_the_registry():
    """Every registered model is in the table with the registry's facts; the counts are rebuilt for the
    smallest few (`python -m edgekit.catalog` regenerates the table after a model changes)."""
    from edgekit.catalog import catalog, entry
    from edgekit.models import list_models

    table = catalog()
    assert sorted(table) == sorted(list_models())
    for name in list_models():
        fresh = entry(name, count=False)
        assert {k: table[name][k] for k in fresh if k not in ("params", "macs")} == \
               {k: v for k, v in fresh.items() if k not in ("params", "macs")}, name
    smallest = sorted(table, key=lambda n: table[n]["macs"] or 0)[:3]
    for name in smallest:
        assert entry(name) == table[name], name


def test_version(cli):
    from edgekit import __version__

    res = cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"edgekit {__version__}"
