"""edgekit.tuning: real searches on digits with a small MLP (1-2 epochs, 1-3 trials each).

Every trial really trains, exports int8 TFLite, is timed in LiteRT and has its TFLM arena
measured; the resume test kills the CLI with SIGKILL during its second trial.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekit.errors import EdgekitError
from edgekit.tuning import Budgets, TuneConfig, define_space, pareto_front, trial_config, tune
from edgekit.tuning.report import TRIAL_KEYS
from edgekit.tuning.space import TUNABLE_FAMILIES

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"optimizer": "adam", "num_layers": 1}  # quick, and trains on two epochs


def _cfg(**kw):
    base = dict(trials=2, epochs=2, patience=2, bench_runs=20, bench_warmup=3, fixed=SMALL)
    base.update(kw)
    return TuneConfig(**base)


def _cli(*args, **popen):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "edgekit.cli", "tune", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **popen)


def test_search_writes_trials_pareto_and_bundle(tmp_path):
    res = tune("mlp", "digits", out=tmp_path, config=_cfg(), budgets=Budgets(max_latency_ms=50, max_flash_kb=500))
    trials = json.loads((tmp_path / "trials.json").read_text())
    from conftest import check_record_file
    from edgekit.records import RunReport, TuneTrial

    check_record_file(tmp_path / "trials.json", [TuneTrial])
    check_record_file(tmp_path / "pareto.json", [TuneTrial])
    check_record_file(res.bundle / "report.json", RunReport)
    assert len(trials) == 2
    for t in trials:
        assert set(TRIAL_KEYS) <= set(t)
        assert t["status"] == "COMPLETED"
        assert t["latency_ms"] > 0 and t["bytes"] > 0 and t["arena_bytes"] > 0
        assert 0.0 <= t["val_accuracy"] <= 1.0 and t["feasible"] is True
        assert t["hyperparameters"]["optimizer"] == "adam"
        assert t["selection_split"] == "validation"  # what the oracle and the choice of the best read
    pareto = json.loads((tmp_path / "pareto.json").read_text())
    assert pareto and {p["id"] for p in pareto} <= {t["id"] for t in trials}
    assert (tmp_path / "pareto.png").stat().st_size > 1000
    best = res.best
    assert best["val_accuracy"] == max(t["val_accuracy"] for t in trials)
    for f in ("model.keras", "model_int8.tflite", "report.json", "report.md"):
        assert (res.bundle / f).is_file(), f
    report = json.loads((res.bundle / "report.json").read_text())
    assert report["training"]["tuning_trial"] == best["id"]
    assert report["artifacts"][1]["latency_ms"]["p50"] > 0
    # the bundle demo assembles: the task's figures, memory and roofline, failures, the manifest
    assert report["metric"]["name"] == "accuracy" and report["failures"] == []
    assert report["artifacts"][1]["metrics"]["accuracy"] == report["artifacts"][1]["accuracy"] > 0.1
    assert report["artifacts"][1]["memory_mb"]["peak_delta"] is not None and report["artifacts"][1]["roofline"]["macs"] > 0
    from edgekit.report.manifest import check_bundle

    assert check_bundle(res.bundle) == []
    assert (report["selection_split"], report["measure_split"]) == ("validation", "test")
    search = json.loads((tmp_path / "report.json").read_text())
    assert (search["selection_split"], search["measure_split"]) == ("validation", "test")


def test_budget_marks_trials_infeasible(tmp_path):
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=400)
    with pytest.raises(EdgekitError, match="none of the 1 completed trials meets the budgets"):
        tune("mlp", "digits", out=tmp_path, config=_cfg(trials=1, epochs=1),
             budgets=Budgets(max_latency_ms=1e-6, max_flash_kb=1), console=console)
    # the trial's line says why it is infeasible (brackets in it are text, not Rich markup)
    assert "[infeasible: latency" in console.file.getvalue()
    (t,) = json.loads((tmp_path / "trials.json").read_text())
    assert t["status"] == "COMPLETED" and t["feasible"] is False
    assert any("latency" in r for r in t["infeasible_because"]) and any("flash" in r for r in t["infeasible_because"])
    assert json.loads((tmp_path / "pareto.json").read_text())  # measured, so still on the front
    assert not (tmp_path / "best").exists()


def _status(trial_json: Path) -> str | None:
    """A keras-tuner trial's status; None while the file is missing or half-written (the tuner
    writes it in place, so a read can land mid-write)."""
    try:
        return json.loads(trial_json.read_text()).get("status")
    except (FileNotFoundError, ValueError):
        return None


def test_resume_after_sigkill_does_not_redo_finished_trials(tmp_path):
    args = ["mlp", "--data", "digits", "--trials", "3", "--epochs", "2", "--param", "optimizer=adam",
            "--param", "num_layers=1", "--out", str(tmp_path)]
    proj = tmp_path / "search" / "tune"
    proc = _cli(*args)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:  # first trial COMPLETED and the second one started
            if _status(proj / "trial_0" / "trial.json") == "COMPLETED" and (proj / "trial_1").is_dir():
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        else:
            pytest.fail("the first trial did not finish in time")
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    first = (proj / "trial_0" / "edgekit.json").read_text()
    first_mtime = (proj / "trial_0" / "model.keras").stat().st_mtime_ns

    proc = _cli(*args)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert "trial 0:" not in stderr  # the finished trial was not trained again
    assert (proj / "trial_0" / "edgekit.json").read_text() == first
    assert (proj / "trial_0" / "model.keras").stat().st_mtime_ns == first_mtime
    trials = json.loads((tmp_path / "trials.json").read_text())
    assert [t["id"] for t in trials] == ["0", "1", "2"]
    assert all(t["status"] == "COMPLETED" for t in trials)


@pytest.mark.parametrize("workers", [1, 2])
def test_all_trials_failing_is_an_error_with_the_first_trials_message(tmp_path, workers):
    # every trial raises: dropout 1.5 is rejected by the builder (in this process, or in worker processes)
    proc = _cli("mlp", "--data", "digits", "--trials", "2", "--epochs", "1", "--param", "dropout=1.5",
                "--workers", str(workers), "--out", str(tmp_path))
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr
    assert "all 2 trials failed" in stderr and "dropout must be in [0, 1)" in stderr
    trials = json.loads((tmp_path / "trials.json").read_text())
    assert [t["status"] for t in trials] == ["FAILED", "FAILED"]
    assert not (tmp_path / "best").exists()
    # a failed trial keeps the point it tried; its traceback is beside it, not on the terminal
    assert all(t["knobs"]["dropout"] == 1.5 and t["hyperparameters"]["dropout"] == 1.5 for t in trials)
    assert all(Path(t["traceback"]).is_file() and "Traceback" in Path(t["traceback"]).read_text() for t in trials)
    assert "Traceback" not in stderr
    if workers == 1:
        failed = [ln for ln in stderr.splitlines() if "trial 0 failed:" in ln]
        assert len(failed) == 1 and "dropout must be in [0, 1)" in failed[0] and "traceback.txt" in failed[0]


def test_a_ram_budget_is_judged_only_on_a_tflm_measured_arena(tmp_path):
    b = Budgets(max_ram_kb=100)
    assert b.violations(1.0, 1000, 50 * 1024, "tflm") == []
    assert b.violations(1.0, 1000, 200 * 1024, "tflm") == ["arena 200.0 KB > 100 KB"]
    (why,) = b.violations(1.0, 1000, 1024, "estimate (lower bound ...); TFLM could not run it: no kernel")
    assert "not measured by TFLM" in why and "no kernel" in why
    # a real search whose arena is not measured by TFLM (measure_arena off): the estimate is small,
    # but the trial is infeasible under --max-ram-kb, and trials.json says why
    with pytest.raises(EdgekitError, match="none of the 1 completed trials meets the budgets"):
        tune("mlp", "digits", out=tmp_path, config=_cfg(trials=1, epochs=1, measure_arena=False),
             budgets=Budgets(max_ram_kb=10_000))
    (t,) = json.loads((tmp_path / "trials.json").read_text())
    assert t["status"] == "COMPLETED" and t["feasible"] is False and t["arena_bytes"] < 10_000 * 1024
    assert "not measured by TFLM" in t["infeasible_because"][0] and "measure_arena is off" in t["arena_source"]


def test_unexpected_trial_exception_is_reported_not_swallowed(tmp_path, monkeypatch):
    import edgekit.tuning.tuner as tuner_mod

    def boom(self, *a, **k):
        raise RuntimeError("boom: out of memory in trial")

    monkeypatch.setattr(tuner_mod._TrialWork, "run", boom)
    with pytest.raises(EdgekitError, match="all 2 trials failed.*boom: out of memory"):
        tune("mlp", "digits", out=tmp_path, config=_cfg())


def test_two_workers_share_one_search(tmp_path):
    res = tune("mlp", "digits", out=tmp_path, config=_cfg(trials=2, epochs=1, workers=2))
    assert [t["status"] for t in res.trials] == ["COMPLETED", "COMPLETED"]
    assert {t["worker"] for t in res.trials} <= {"tuner0", "tuner1"}
    assert all(t["latency_ms"] > 0 for t in res.trials)
    assert (tmp_path / "logs" / "tuner0.log").is_file() and res.bundle.is_dir()


def test_rerun_with_a_different_search_is_refused(tmp_path):
    (tmp_path / "search.json").write_text(json.dumps({"model": "mlp", "data": "other"}))
    with pytest.raises(EdgekitError, match="already holds a different search"):
        tune("mlp", "digits", out=tmp_path, config=_cfg())


def test_pareto_front():
    from edgekit.records import TuneTrial

    rows = [TuneTrial(id="a", val_accuracy=0.9, latency_ms=1.0, bytes=100),
            TuneTrial(id="b", val_accuracy=0.95, latency_ms=2.0, bytes=100),
            TuneTrial(id="c", val_accuracy=0.89, latency_ms=1.5, bytes=200),  # dominated by a
            TuneTrial(id="d", val_accuracy=0.80, latency_ms=1.0, bytes=50)]
    assert [r.id for r in pareto_front(rows)] == ["b", "a", "d"]


@pytest.mark.parametrize("family", TUNABLE_FAMILIES)
def test_every_tunable_family_has_a_space_whose_values_are_real_knobs(family):
    import keras_tuner as kt

    from edgekit.models import get_spec, list_models

    names = [n for n in list_models() if get_spec(n).family == family and get_spec(n).task == "classification"]
    assert names
    for name in names:
        hp = define_space(name)
        oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("score", "max"), max_trials=5,
                                               hyperparameters=hp, seed=1)
        for _ in range(5):
            values = oracle._random_values()
            cfg = trial_config(name, values)
            assert set(cfg.knobs) <= set(get_spec(cfg.model).knobs), (name, cfg.knobs)
            assert cfg.learning_rate > 0 and cfg.batch_size in (32, 64)


def test_unknown_fixed_name_is_refused_before_any_work(tmp_path):
    with pytest.raises(EdgekitError, match="not in the mlp space"):
        tune("mlp", "digits", out=tmp_path, config=_cfg(fixed={"alpha": 0.35}))
    assert not (tmp_path / "search").exists()


@pytest.mark.parametrize("name, knob, small, default", [
    ("mobilenet_v2", "expansion", 3, 6),
    ("resnet8", "width", 0.5, 1.0),
    ("resnet18", "width", 0.25, 1.0),
])
def test_width_knobs_in_the_space_thin_the_model(name, knob, small, default):
    """The searched widths are real: a smaller MobileNetV2 expansion or ResNet width builds fewer MACs."""
    from edgekit.models import count_macs, create_model

    assert knob in define_space(name).values
    base = {"alpha": 0.35} if name.startswith("mobilenet") else {}
    macs = {v: count_macs(create_model(name, input_shape=(32, 32, 3), num_classes=10, **base, **{knob: v}))
            for v in (small, default)}
    assert macs[small] < 0.7 * macs[default], macs


def test_mcu_target_trials_carry_the_estimate_and_the_front_uses_it(tmp_path):
    """`edgekit tune ... --target nucleo-l4r5zi --max-mcu-latency-ms X`: every trial carries its
    Cortex-M estimate, the budget applies to it, and the Pareto front is over the estimate."""
    proc = _cli("mlp", "--data", "digits", "--trials", "2", "--epochs", "1", "--param", "optimizer=adam",
                "--param", "num_layers=1", "--target", "nucleo-l4r5zi", "--max-mcu-latency-ms", "1000",
                "--out", tmp_path)
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr[-2000:]
    trials = json.loads((tmp_path / "trials.json").read_text())
    assert len(trials) == 2
    for t in trials:
        e = t["mcu_estimate"]
        assert e["target"] == "nucleo-l4r5zi" and e["core"] == "cortex-m4" and e["latency_ms"] == t["mcu_latency_ms"] > 0
        assert e["fits"]["arena_bytes"] == t["arena_bytes"] and t["feasible"] is (t["mcu_latency_ms"] <= 1000)
    front = json.loads((tmp_path / "pareto.json").read_text())
    assert front and all("mcu_latency_ms" in p for p in front)
    assert "estimated on nucleo-l4r5zi" in stdout
    # too tight a budget makes every trial infeasible for that reason
    b = Budgets(target="nucleo-l4r5zi", max_mcu_latency_ms=1e-6)
    assert b.mcu_violations(0.5) == ["nucleo-l4r5zi estimate 0.5 ms > 1e-06 ms"]
    assert b.mcu_violations(None) == ["MCU latency unknown"]
