"""report.json and report.md for a run bundle, from records (no TensorFlow import)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment

from edgekit._io import write_json, write_text
from edgekit.artifact import Artifact, Latency, Parity
from edgekit.records import ArtifactRow, RunReport


def artifact_row(art: Artifact, accuracy: float | None, parity: Parity | None, latency: Latency | None,
                 error: str | None = None) -> ArtifactRow:
    """The report row of one file (with its phone-GPU check when it is a .tflite)."""
    row = ArtifactRow.of(art, accuracy, parity, latency, gpu=gpu_record(art))
    if error:
        row.error = error
    return row


def gpu_record(art: Artifact) -> dict | None:
    """``artifacts[].gpu`` for a .tflite: the record's own check, else checked here."""
    if art.format != "tflite":
        return None
    if art.gpu is not None:
        return art.gpu.model_dump()
    from edgekit.runtime.gpu import gpu_compatibility

    try:
        return gpu_compatibility(art.path).model_dump()
    except Exception as e:  # noqa: BLE001 - a file that cannot be analyzed is reported, not fatal to the report
        return {"compatible": False, "unsupported_ops": [], "notes": f"not analyzed: {e}"}


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _num(v, fmt="{:.4f}"):
    return "—" if v is None else fmt.format(v)


_MD = """# edgekit report: {{ r.model.name }}

{{ r.model.params | thousands }} parameters, {{ (r.model.macs / 1e6) | round(1) }} M multiply-adds per sample.
Data: `{{ r.dataset.name }}` ({{ r.dataset.n_train }} train / {{ r.dataset.n_test }} test samples).
Latency: single sample, {{ r.bench.threads }} thread(s), {{ r.bench.runs }} timed runs after {{ r.bench.warmup }} warm-up, on {{ r.machine.cpu }}.

{% if r.metric and r.metric.task != "classification" %}Task: {{ r.metric.task }}; `{{ r.metric.name }}` is the headline figure ({{ "higher" if r.metric.higher_is_better else "lower" }} is better).
{% endif %}
| file | format | precision | size |{% for c in cols %} {{ c }} |{% endfor %} cosine | max abs | top-1 agree | p50 ms | p99 ms |
| --- | --- | --- | ---: |{% for c in cols %} ---: |{% endfor %} ---: | ---: | ---: | ---: | ---: |
{% for a in r.artifacts -%}
| `{{ a.path | basename }}` | {{ a.format }} | {{ a.precision }} | {{ a.bytes | size }} |{% for c in cols %} {% if c == "accuracy" %}{{ (a.metrics or {}).get(c, a.accuracy) | acc(r.dataset.n_test) }}{% else %}{{ (a.metrics or {}).get(c) | num }}{% endif %} |{% endfor %} {{ a.parity.cosine | num("{:.6f}") if a.parity else "reference" }} | {{ a.parity.max_abs | num("{:.2g}") if a.parity else "" }} | {{ a.parity.top1_agreement | num("{:.4f}") if a.parity else "" }} | {{ a.latency_ms.p50 | num("{:.3f}") if a.latency_ms else "—" }} | {{ a.latency_ms.p99 | num("{:.3f}") if a.latency_ms else "—" }} |
{% endfor %}
{%- for a in r.artifacts if a.error %}
- `{{ a.path | basename }}`: {{ a.error }}
{%- endfor %}
{%- for a in r.artifacts if a.options and a.options.xnnpack_fallback %}
- `{{ a.path | basename }}`: {{ a.options.xnnpack_fallback }}
{%- endfor %}

{% if r.artifacts | selectattr("gpu") | list -%}
Phone GPU delegate (LiteRT analyzer and edgekit's op rules):
{% for a in r.artifacts if a.gpu %}
- `{{ a.path | basename }}`: {{ "compatible" if a.gpu.compatible else "not compatible" }}
{%- for o in a.gpu.unsupported_ops %}; {{ o.op }} (op {{ o.index }}) in `{{ o.layer }}`: {{ o.reason }}{% if o.fix %} (fix: {{ o.fix }}){% endif %}{% endfor %}. {{ a.gpu.notes }}
{%- endfor %}
{%- endif %}

Parity compares each artifact's outputs with the Keras model's on the {{ r.verify_source }}.
{% if cols == ["accuracy"] %}Accuracy is top-1 on the same samples, with its 95% Wilson interval in brackets.{% elif cols %}{{ cols | join(", ") }}: computed from each artifact's own outputs on the same samples.{% endif %} int8 inputs are quantized with the model's own scale and zero point
(input normalization: `(x - {{ norm.mean }}) / {{ norm.std }}` on raw values in {{ norm.raw_range }}).
{% if r.mcu and r.mcu.estimate %}{% set e = r.mcu.estimate %}
## Microcontroller

Estimated **{{ e.latency_ms | num("{:.2f}") }} ms** per inference on {{ e.target }} ({{ e.core }}, {{ e.mhz }} MHz, TFLM + {{ e.kernels }}; {{ e.basis }}; median leave-one-out error of the cost model on published MLPerf Tiny rows {{ (e.calibration.median_loo_error * 100) | round(0) }}%).
Fits: RAM {{ "yes" if e.fits.ram else ("no" if e.fits.ram is false else "unknown") }} (TFLM arena {{ e.fits.arena_bytes | thousands }} B + runtime {{ e.fits.runtime_ram_overhead_bytes | thousands }} B of {{ e.fits.ram_bytes | thousands }} B), flash {{ "yes" if e.fits.flash else ("no" if e.fits.flash is false else "unknown") }} (model {{ e.fits.model_bytes | thousands }} B + code {{ e.fits.runtime_flash_overhead_bytes | thousands }} B of {{ e.fits.flash_bytes | thousands }} B). Bundle in `mcu/` (README.md, main.cc, model_data.h). Other boards: `edgekit estimate mcu/<model>.tflite --target NAME`.
{% endif %}"""


def render_markdown(report: RunReport | dict) -> str:
    """report.md from the run's record (a dict is read as report.json)."""
    from edgekit.verify.stats import fmt_accuracy

    report = report if isinstance(report, RunReport) else RunReport.model_validate(report)
    env = Environment(trim_blocks=False, lstrip_blocks=False)
    env.filters["size"] = _size
    env.filters["num"] = _num
    env.filters["acc"] = fmt_accuracy
    env.filters["basename"] = lambda p: Path(p).name
    env.filters["thousands"] = lambda n: f"{n:,}" if n is not None else "?"
    norm = report.normalization or {"mean": 0, "std": 1, "raw_range": "?"}
    cols = (report.metric or {"columns": ["accuracy"]})["columns"]
    return env.from_string(_MD).render(r=report, norm=norm, cols=cols)


def write_report(run_dir: str | Path, report: RunReport) -> tuple[Path, Path]:
    """report.json (the record's ``model_dump()``) and report.md, in ``run_dir``."""
    run_dir = Path(run_dir)
    return (write_json(run_dir / "report.json", report.model_dump()),
            write_text(run_dir / "report.md", render_markdown(report)))
