"""The non-dominated trials over accuracy x latency x size, and a plot of them.

keras-tuner's list objective adds objectives into one number (ECOSYSTEM.md), so the front is
computed here from the measured figures of completed trials.
"""

from __future__ import annotations

from pathlib import Path

from edgekit.records import TuneTrial

# (key, direction): maximize accuracy, minimize latency and file size.
OBJECTIVES = (("val_accuracy", "max"), ("latency_ms", "min"), ("bytes", "min"))
# With a microcontroller target: the estimated latency on that board instead of this host's.
MCU_OBJECTIVES = (("val_accuracy", "max"), ("mcu_latency_ms", "min"), ("bytes", "min"))


def _dominates(a, b, objectives) -> bool:
    better = False
    for key, direction in objectives:
        x, y = (getattr(a, key), getattr(b, key))
        x, y = (x, y) if direction == "max" else (-x, -y)
        if x < y:
            return False
        if x > y:
            better = True
    return better


def pareto_front(rows: list[TuneTrial], objectives=OBJECTIVES) -> list[TuneTrial]:
    """Rows (trials with every objective measured) that no other row dominates, by accuracy then latency."""
    keys = [k for k, _ in objectives]
    pts = [r for r in rows if all(isinstance(getattr(r, k), (int, float)) for k in keys)]
    front = [r for r in pts if not any(_dominates(o, r, objectives) for o in pts if o is not r)]
    return sorted(front, key=lambda r: (-r.val_accuracy, r.latency_ms))


def plot_front(rows: list[TuneTrial], front: list[TuneTrial], path: str | Path, max_latency_ms: float | None = None,
               title: str = "") -> Path:
    """Latency vs accuracy for every measured trial; marker area follows file size; front joined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgekit._io import atomic_path

    pts = [r for r in rows if isinstance(r.latency_ms, (int, float)) and r.val_accuracy is not None]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    if pts:
        biggest = max(r.bytes or 0 for r in pts) or 1
        for feasible, color, label in ((True, "tab:blue", "feasible"), (False, "tab:gray", "over budget")):
            sel = [r for r in pts if r.feasible == feasible]
            if sel:
                ax.scatter([r.latency_ms for r in sel], [r.val_accuracy for r in sel],
                           s=[30 + 300 * (r.bytes or 0) / biggest for r in sel], c=color, alpha=0.6, label=label)
        for r in pts:
            ax.annotate(str(r.id), (r.latency_ms, r.val_accuracy), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        f = sorted(front, key=lambda r: r.latency_ms)
        ax.plot([r.latency_ms for r in f], [r.val_accuracy for r in f], "-o", c="tab:red", mfc="none",
                ms=12, label="Pareto front (acc x latency x size)")
    if max_latency_ms is not None:
        ax.axvline(max_latency_ms, ls="--", c="tab:orange", label=f"latency budget {max_latency_ms:g} ms")
    ax.set_xlabel("LiteRT latency p50, 1 thread (ms)")
    ax.set_ylabel("validation accuracy")
    ax.set_title(title or "trials (marker area ~ model bytes)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
