"""compression.md: the compression table as Markdown (accuracy with its 95 % Wilson interval; other
tasks' headline figure, RMSE or ROC AUC, in its own units)."""

from __future__ import annotations

from edgekit.records import CompressionFile


def _f(v, spec):
    return "—" if v is None else spec.format(v)


def render_markdown(report: CompressionFile, source: str = "", data: str = "") -> str:
    from edgekit.compress.task_metric import format_drop
    from edgekit.verify.stats import fmt_accuracy

    b = report.baseline
    n = b.n_test or 0
    m = report.metric or {"name": "accuracy", "drop": "baseline accuracy minus variant accuracy"}
    name = m["name"]

    def figure(v):
        return fmt_accuracy(v, n) if name == "accuracy" else _f(v, "{:.4f}")

    skipped = report.skipped or {}
    lines = [f"# Compression of {source}" if source else "# Compression", "",
             f"Baseline: fp32 TFLite, {b.bytes:,} bytes, {name} {figure(b.score)}"
             f"{' (95% Wilson interval)' if name == 'accuracy' else ''} on the test split of {data}, "
             f"p50 {b.p50_ms:.3f} ms (LiteRT, 1 thread). `drop` is {m['drop'].replace('variant', 'the variant')}"
             f"{'' if name == 'accuracy' else ' (positive = worse)'}; parity is against each variant's float parent.", "",
             *([f"**Warning:** {b.warning}", ""] if b.warning else []),
             *([f"Not run: {', '.join(skipped)} ({next(iter(skipped.values()))}).", ""] if skipped else []),
             f"| variant | steps | format | precision | bytes | × fp32 | gzip × fp32 | sparsity | {name} | drop "
             "| p50 ms | speedup | top-1 agree | cosine |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for v in report.variants:
        if v.error:
            status = v.status or "failed"
            what = v.error if status == "internal error" else f"{status}: {v.error}"
            lines.append(f"| {v.name} | {' → '.join(v.steps)} | {what.replace('|', '/')} "
                         "| | | | | | | | | | | |")
            continue
        par = v.parity
        lines.append(
            f"| {v.name} | {' → '.join(v.steps)} | {v.format} | {v.precision} | {v.bytes:,} "
            f"| {v.bytes / b.bytes:.3f} | {v.gzip_bytes / b.bytes:.3f} | {_f(v.sparsity, '{:.2f}')} "
            f"| {figure(v.score)} | {format_drop(v.drop, name)} "
            f"| {v.p50_ms:.3f} | {v.speedup:.2f}× | {_f(par and par.top1_agreement, '{:.4f}')} "
            f"| {_f(par and par.cosine, '{:.5f}')} |")
    mixed = next((v for v in report.variants if v.name == "mixed" and v.ok), None)
    if mixed:
        lines += ["", f"Mixed precision (max drop {mixed.max_drop:g}): full int8 drop "
                      f"{mixed.full_int8_drop * 100:+.2f} pt; layers kept in float: "
                      f"{', '.join(mixed.float_layers) or 'none'}."]
    return "\n".join(lines) + "\n"
