"""What a search leaves behind: trials.json, pareto.json, pareto.png, report.md, and the best
feasible model as a run bundle in ``<out>/best`` (model.keras, model_int8.tflite, report.json/md,
manifest.json), assembled by :class:`edgekit.bundle.Bundle` like ``edgekit demo``'s.

Everything is read back from keras-tuner's own trial files (``trial_*/trial.json``: status,
message, hyperparameters, metrics) plus the ``edgekit.json`` each trial writes beside them, so the
same code reports an in-process search, a parallel one and a resumed one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from edgekit._io import atomic_path, write_json, write_text
from edgekit.errors import EdgekitError, first_line
from edgekit.records import BenchSettings, ModelSummary, RunReport, TuneTrial

TRIAL_KEYS = ("id", "status", "hyperparameters", "val_accuracy", "latency_ms", "bytes", "arena_bytes", "feasible")


def _metric(trial: dict, name: str):
    m = (trial.get("metrics") or {}).get("metrics", {}).get(name)
    if not m:
        return None
    obs = m.get("observations") or []
    if not obs:
        return None
    v = obs[-1].get("value")
    return v[0] if isinstance(v, list) and v else v


def _error_line(message: str | None) -> str | None:
    if not message:
        return None
    import re

    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    m = re.match(r"^(?:[\w]+\.)*(\w+): (.*)$", lines[-1])  # "pkg.mod.SomeError: text" -> "SomeError: text"
    if not m:
        return lines[-1]
    return m.group(2) if m.group(1) == "FailedTrialError" else f"{m.group(1)}: {m.group(2)}"


def collect_trials(project_dir: Path) -> list[TuneTrial]:
    """One record per trial (keys :data:`TRIAL_KEYS` first in trials.json), ordered by trial id."""
    rows = []
    for p in Path(project_dir).glob("trial_*/trial.json"):
        try:
            t = json.loads(p.read_text())
        except (ValueError, OSError):
            continue
        side = {}
        sp = p.parent / "edgekit.json"
        if sp.is_file():
            try:
                side = json.loads(sp.read_text())
            except ValueError:
                side = {}
        status = t.get("status")
        done = status == "COMPLETED"
        arena = side.get("arena_bytes", _metric(t, "arena_bytes"))
        row = {
            "id": t.get("trial_id"),
            "status": status,
            "hyperparameters": (t.get("hyperparameters") or {}).get("values", {}),
            "val_accuracy": side.get("val_accuracy", _metric(t, "val_accuracy")) if done else None,
            "latency_ms": side.get("latency_ms", _metric(t, "latency_ms")) if done else None,
            "bytes": (int(side.get("bytes", _metric(t, "bytes") or 0)) or None) if done else None,
            "arena_bytes": (None if arena is None or arena < 0 else int(arena)) if done else None,
            "feasible": bool(side.get("feasible", (_metric(t, "feasible") or 0) > 0.5)) if done else False,
            "selection_split": "validation",  # val_accuracy and score; the test split is read for the best only
        }
        if done:
            row.update({k: side.get(k) for k in ("arena_source", "infeasible_because", "model", "knobs",
                                                  "resolution", "params", "macs", "epochs_run", "seconds",
                                                  "worker", "mcu_latency_ms", "mcu_estimate") if k in side})
            row["dir"] = str(p.parent)
            row["score"] = t.get("score")
        err = _error_line(t.get("message"))
        ep = p.parent / "error.txt"
        if not err and ep.is_file():  # a worker's error (the chief's trial.json has no message then)
            err = first_line(ep.read_text()) or None
        if err and status != "COMPLETED":
            row["error"] = err
        if not done:  # a failed trial keeps the point it tried, in trials.json and in the tables
            row["knobs"] = {k: v for k, v in row["hyperparameters"].items() if not k.startswith("tuner/")}
            if (p.parent / "traceback.txt").is_file():
                row["traceback"] = str(p.parent / "traceback.txt")
        rows.append(TuneTrial(**row))
    return sorted(rows, key=lambda r: int(r.id) if str(r.id).isdigit() else str(r.id))


def pick_best(trials: list[TuneTrial]) -> TuneTrial | None:
    """The most accurate COMPLETED, feasible trial whose files exist (ties: the faster)."""
    ok = [t for t in trials if t.completed and t.feasible and t.dir and (Path(t.dir) / "model.keras").exists()]
    return min(ok, key=lambda t: (-t.val_accuracy, t.latency_ms)) if ok else None


def write_outputs(out: Path, model: str, data, config, budgets, trials: list[TuneTrial], seconds: float, console,
                  crash: str | None = None):
    from edgekit.tuning.pareto import pareto_front, plot_front
    from edgekit.tuning.config import TuneResult

    out = Path(out)
    write_json(out / "trials.json", [t.model_dump() for t in trials])
    completed = [t for t in trials if t.completed]
    if not completed:
        first = next((t for t in trials if t.error), None)
        why = first.error if first else (crash or "no trial ran")
        raise EdgekitError(f"all {len(trials)} trials failed; first error (trial {first.id if first else '?'}): "
                           f"{why}. Details in {out}/trials.json.")
    if getattr(budgets, "target", None):  # Pareto front against the estimated MCU latency (--target's board)
        from edgekit.tuning.pareto import MCU_OBJECTIVES

        front = pareto_front(completed, MCU_OBJECTIVES)
    else:
        front = pareto_front(completed)
    write_json(out / "pareto.json", [t.model_dump() for t in front])
    plot_front(trials, front, out / "pareto.png", budgets.max_latency_ms,
               title=f"{model} on {data}: {len(completed)} trials")
    best = pick_best(trials)
    summary = {
        "model": model, "data": str(data), "config": config.model_dump(), "budgets": budgets.model_dump(),
        "seconds": round(seconds, 1), "counts": _status_counts(trials),
        "best": best and best.model_dump(include={*TRIAL_KEYS, "knobs", "model", "resolution"}, exclude_unset=False),
        "pareto_ids": [t.id for t in front], "crash": crash,
        # trials are scored and the best chosen on validation; only the best bundle is measured on test
        "selection_split": "validation", "measure_split": "test",
    }
    bundle = None
    if best is not None:
        bundle = out / "best"
        failures = export_bundle(best, data, config, bundle, console).failures
        summary["bundle"] = str(bundle)
        if failures:  # `edgekit tune` exits 3 on them, as `edgekit demo` does
            summary["bundle_failures"] = [f.model_dump() for f in failures]
    write_json(out / "report.json", summary)
    write_text(out / "report.md", search_markdown(summary, trials, front))
    if best is None:
        fastest = min(completed, key=lambda t: t.latency_ms)
        raise EdgekitError(f"none of the {len(completed)} completed trials meets the budgets (fastest: trial "
                           f"{fastest.id}, {fastest.latency_ms:.3f} ms, {fastest.bytes / 1024:.1f} KB: "
                           f"{'; '.join(fastest.infeasible_because or [])}); loosen the budgets or widen the "
                           f"search. Trials and Pareto front are in {out}.")
    return TuneResult(out=out, trials=trials, pareto=front, best=best, bundle=bundle, report=summary)


def _status_counts(trials):
    c: dict = {}
    for t in trials:
        c[t.status] = c.get(t.status, 0) + 1
    c["feasible"] = sum(1 for t in trials if t.feasible)
    return c


def _copy(src: Path, dest: Path):
    """Copy under a temporary name, then rename: no half-copied model under the final name."""
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def export_bundle(best: TuneTrial, data, config, dest: Path, console) -> RunReport:
    """The chosen trial as a run bundle (:class:`edgekit.bundle.Bundle`, as ``edgekit demo`` assembles
    its own): its trained model (not retrained), the export at the search's precision, measured with the
    task's figures, memory and roofline, the report with any failed step, and the manifest."""
    from edgekit.artifact import ModelCard
    from edgekit.bundle import Bundle
    from edgekit.models.load import load_model
    from edgekit.tuning.trial import load_tune_dataset

    src = Path(best.dir)
    dest.mkdir(parents=True, exist_ok=True)
    _copy(src / "model.keras", dest / "model.keras")
    card_src = ModelCard.path_for(src / "model.keras")
    if card_src.is_file():
        _copy(card_src, ModelCard.path_for(dest / "model.keras"))
    card = ModelCard.read_beside(dest / "model.keras")
    ds = load_tune_dataset(best.model, data, best.resolution, config.seed, scaling=config.input_scaling())
    bench = BenchSettings(threads=1, runs=max(config.bench_runs, 100), warmup=config.bench_warmup)
    b = Bundle(dest, dest / "model.keras", load_model(dest / "model.keras"), card, ds, bench, console)
    rows = [b.reference_row(), b.export_row("tflite", config.precision, profile=False, seed=config.seed)]
    report = b.report(rows, model=ModelSummary(name=best.model, params=card.params if card else None,
                                               macs=card.macs if card else None, knobs=best.knobs),
                      training={"tuning_trial": best.id, "val_accuracy": best.val_accuracy,
                                "hyperparameters": best.hyperparameters, "test_accuracy": rows[0].accuracy},
                      selection_split="validation")  # early stopping and the choice of this trial
    b.write(report, html=False)  # the search's own report.md and pareto.png are its pages
    exported = rows[1]
    console.print(f"  best: trial {best.id} -> {dest} (test {b.scorer.line(rows[0].metrics)} keras"
                  + (f", {config.precision} tflite failed: {exported.error}" if exported.error else
                     f", {b.scorer.line(exported.metrics)} {config.precision} tflite, "
                     f"p50 {exported.latency_ms.p50:.3f} ms") + ")", highlight=False)
    return report


def search_markdown(summary: dict, trials: list[TuneTrial], front: list[TuneTrial]) -> str:
    """The search's report.md (``report/templates/tune.md.j2``)."""
    from edgekit.report.render import render_markdown_template

    budgets = {k: v for k, v in summary["budgets"].items() if v is not None}
    return render_markdown_template(
        "tune.md.j2", s=summary, trials=trials, budgets=budgets, pareto_ids={t.id for t in front},
        estimated_arena=any(t.arena_source and t.arena_source != "tflm" for t in trials))
