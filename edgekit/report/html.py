"""report.html: one self-contained page per run (inline CSS, inline SVG charts). No TensorFlow import.

    write_html(run_dir, report) -> Path      # report: the RunReport pipeline.run returns (report.json)

The page shows latency per format and runtime, file size, accuracy against latency, the per-op
profile, memory and roofline figures, the Arm Ethos-U55/U65 estimates and the microcontroller
bundle (or "failed: reason" where a step failed). Charts are matplotlib SVG with text kept as
text (``svg.fonttype = none``), so the page needs no network, no scripts and no image files.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
from importlib import resources
from pathlib import Path

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from edgekit._io import write_text
from edgekit.records import ArtifactRow, Profile, RunReport, RuntimeRow, StepError
from edgekit.units import format_bytes, format_number

Row = ArtifactRow | RuntimeRow

# One colour per runtime, the same in every chart.
_COLORS = {"keras": "#7f7f7f", "litert": "#1f77b4", "litert (no xnnpack)": "#9ecae1", "onnxruntime": "#ff7f0e",
           "tflm": "#2ca02c", "tflm (host)": "#2ca02c"}


def _label(a: Row) -> str:
    return f"{a.name} · {a.label or (a.latency_ms.runtime if a.latency_ms else a.format)}"


def _acc_ci(v, n) -> str:
    """``95.0% [93.1, 96.4]``: an accuracy and its 95 % Wilson interval, in percent."""
    from edgekit.verification.stats import accuracy_ci

    ci = accuracy_ci(v, n or 0)
    return format_number(None if v is None else v * 100, "{:.1f}%") + (f" [{ci[0] * 100:.1f}, {ci[1] * 100:.1f}]" if ci else "")


def _runtime(a: Row) -> str:
    return a.label or (a.latency_ms.runtime if a.latency_ms else None) or {
        "tflite": "litert", "onnx": "onnxruntime"}.get(a.format, "keras")


def _svg(fig) -> Markup:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # drop the XML declaration and DOCTYPE
    # Fixed pixel sizes would overflow narrow screens: let CSS scale it.
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1', text, count=1)
    return Markup(text)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False, "font.family": "sans-serif"})
    return plt


def latency_chart(artifacts: list[Row]) -> Markup | None:
    rows = [a for a in artifacts if a.latency_ms]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 0.9))
    labels = [_label(a) for a in rows]
    p50 = [a.latency_ms.p50 for a in rows]
    p90 = [a.latency_ms.p90 for a in rows]
    p99 = [a.latency_ms.p99 for a in rows]
    y = range(len(rows))
    ax.barh(y, p50, color=[_COLORS.get(_runtime(a), "#999") for a in rows], label="p50")
    ax.scatter(p90, y, marker="|", s=120, color="black", label="p90", zorder=3)
    ax.scatter(p99, y, marker="x", s=25, color="#d62728", label="p99", zorder=3)
    for yi, v, right in zip(y, p50, p99):
        ax.annotate(f"p50 {v:.3f}", (max(v, right), yi), xytext=(6, -3), textcoords="offset points", fontsize=8)
    ax.set_xlim(min(p50) / 2, max(p99) * 4)  # log axis: bars start at the left edge
    ax.set_yticks(list(y), labels)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("single-sample latency, ms (log scale)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title("Latency per format and runtime")
    return _svg(fig)


def size_chart(artifacts: list[ArtifactRow]) -> Markup | None:
    rows = [a for a in artifacts if a.bytes]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(rows) + 0.8))
    kb = [a.bytes / 1024 for a in rows]
    y = range(len(rows))
    ax.barh(y, kb, color=[_COLORS.get(_runtime(a), "#999") for a in rows])
    for yi, v in zip(y, kb):
        ax.annotate(f"{v:,.1f} KB", (v, yi), xytext=(3, -3), textcoords="offset points", fontsize=8)
    ax.set_yticks(list(y), [a.name for a in rows])
    ax.invert_yaxis()
    ax.set_xlabel("file size, KB")
    ax.set_title("Size on disk")
    return _svg(fig)


def accuracy_chart(artifacts: list[ArtifactRow]) -> Markup | None:
    rows = [a for a in artifacts if a.latency_ms and a.accuracy is not None]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for k, a in enumerate(rows):
        x, yv = a.latency_ms.p50, a.accuracy * 100
        ax.scatter([x], [yv], s=60, color=_COLORS.get(_runtime(a), "#999"), zorder=3)
        # Alternate label offsets: artifacts of equal accuracy sit side by side.
        ax.annotate(a.name, (x, yv), xytext=(5, 6 if k % 2 == 0 else -12),
                    textcoords="offset points", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("p50 latency, ms (log scale)")
    ax.set_ylabel("test accuracy, %")
    ax.set_title("Accuracy against latency (up and left is better)")
    ax.grid(alpha=0.3)
    return _svg(fig)


def profile_chart(artifacts: list[ArtifactRow], top: int = 8) -> Markup | None:
    from edgekit.benchmarking.profile import by_op_type

    rows = [a for a in artifacts if isinstance(a.profile, Profile) and a.profile.rows]
    if not rows:
        return None
    plt = _pyplot()
    types: list[str] = []
    per = []
    for a in rows:
        agg = {r["op"]: r["ms"] for r in by_op_type(a.profile)}
        per.append(agg)
        for op in sorted(agg, key=lambda o: -agg[o]):
            if op not in types:
                types.append(op)
    shown = types[:top]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.3))
    cmap = plt.get_cmap("tab10")
    y = list(range(len(rows)))
    left = [0.0] * len(rows)
    for k, op in enumerate(shown + ["other"]):
        vals = [agg.get(op, 0.0) if op != "other" else sum(v for o, v in agg.items() if o not in shown) for agg in per]
        if not any(vals):
            continue
        ax.barh(y, vals, left=left, color=cmap(k % 10) if op != "other" else "#cccccc", label=op)
        left = [a + b for a, b in zip(left, vals)]
    ax.set_yticks(y, [_label(a) for a in rows])
    ax.invert_yaxis()
    ax.set_xlabel("summed per-operator time, ms")
    ax.legend(fontsize=7, frameon=False, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    ax.set_title("Where the time goes (per-op profile, by operator type)")
    return _svg(fig)


def render_html(report: RunReport | dict) -> str:
    """The page as a string (see the module docstring); a dict is read as report.json."""
    from edgekit.benchmarking.profile import by_op_type

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["num"] = format_number
    env.filters["size"] = format_bytes
    env.filters["basename"] = lambda p: Path(str(p)).name
    env.filters["pct"] = lambda v: format_number(None if v is None else v * 100, "{:.1f}%")
    env.filters["acc_ci"] = _acc_ci
    # a task figure: accuracy in percent, the others (RMSE, ROC AUC, cosine, ...) as numbers
    env.filters["fig"] = lambda v, name: (format_number(None if v is None else v * 100, "{:.1f}%") if name == "accuracy"
                                          else format_number(v, "{:.4g}"))
    template = env.from_string(resources.files("edgekit.report").joinpath("templates/report.html.j2").read_text())
    report = report if isinstance(report, RunReport) else RunReport.model_validate(report)
    arts = report.artifacts
    profiles = []
    for a in arts:
        prof = a.profile
        if isinstance(prof, Profile) and prof.rows:
            profiles.append({"label": _label(a), "p": prof, "types": by_op_type(prof)[:10],
                             "slowest": sorted(prof.rows, key=lambda r: -r.ms)[:8]})
        elif isinstance(prof, StepError):
            profiles.append({"label": _label(a), "error": prof.error})
    others = report.runtimes
    charts = {"latency": latency_chart(arts + others), "size": size_chart(arts), "accuracy": accuracy_chart(arts),
              "profile": profile_chart(arts)}
    cols = (report.metric or {"columns": ["accuracy"]})["columns"]
    return template.render(r=report, arts=arts, others=others, charts=charts, profiles=profiles, runtime=_runtime, cols=cols,
                           generated=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"))


def write_html(run_dir: str | Path, report: RunReport | dict) -> Path:
    return write_text(Path(run_dir) / "report.html", render_html(report))
