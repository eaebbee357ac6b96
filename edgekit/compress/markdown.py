"""compression.md: the compression table as Markdown (accuracies with their 95 % Wilson interval)."""

from __future__ import annotations


def _f(v, spec):
    return "—" if v is None else spec.format(v)


def render_markdown(report: dict, source: str = "", data: str = "") -> str:
    from edgekit.verify.stats import fmt_accuracy

    b = report["baseline"]
    lines = [f"# Compression of {source}" if source else "# Compression", "",
             f"Baseline: fp32 TFLite, {b['bytes']:,} bytes, accuracy {fmt_accuracy(b['accuracy'], b.get('n_test') or 0)} "
             f"(95% Wilson interval) on the test split of {data}, p50 {b['p50_ms']:.3f} ms (LiteRT, 1 thread). `drop` is baseline minus variant accuracy; "
             "parity is against each variant's float parent.", "",
             *([f"**Warning:** {b['warning']}", ""] if b.get("warning") else []),
             "| variant | steps | format | precision | bytes | × fp32 | gzip × fp32 | sparsity | accuracy | drop "
             "| p50 ms | speedup | top-1 agree | cosine |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for v in report["variants"]:
        if v.get("error"):
            lines.append(f"| {v['name']} | {' → '.join(v['steps'])} | failed: {v['error'].replace('|', '/')} "
                         "| | | | | | | | | | | |")
            continue
        par = v.get("parity") or {}
        lines.append(
            f"| {v['name']} | {' → '.join(v['steps'])} | {v['format']} | {v['precision']} | {v['bytes']:,} "
            f"| {v['bytes'] / b['bytes']:.3f} | {v['gzip_bytes'] / b['bytes']:.3f} | {_f(v['sparsity'], '{:.2f}')} "
            f"| {fmt_accuracy(v['accuracy'], b.get('n_test') or 0)} | {_f(v['drop'] * 100 if v['drop'] is not None else None, '{:+.2f} pt')} "
            f"| {v['p50_ms']:.3f} | {v['speedup']:.2f}× | {_f(par.get('top1_agreement'), '{:.4f}')} "
            f"| {_f(par.get('cosine'), '{:.5f}')} |")
    mixed = next((v for v in report["variants"] if v["name"] == "mixed" and not v.get("error")), None)
    if mixed:
        lines += ["", f"Mixed precision (max drop {mixed['max_drop']:g}): full int8 drop "
                      f"{mixed['full_int8_drop'] * 100:+.2f} pt; layers kept in float: "
                      f"{', '.join(mixed['float_layers']) or 'none'}."]
    return "\n".join(lines) + "\n"
