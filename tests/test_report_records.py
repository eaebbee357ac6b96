"""report.json's sub-items are records: no field among them is a bare dict."""

from __future__ import annotations

import typing

from pydantic import BaseModel


def _dict_fields(model: type[BaseModel], seen=None) -> list[str]:
    """Every field, at any depth of ``model``'s records, whose type admits a plain dict."""
    seen = seen if seen is not None else set()
    if model in seen:
        return []
    seen.add(model)
    found = []

    def walk(tp, where):
        origin = typing.get_origin(tp)
        if tp is dict or origin is dict:
            found.append(where)
        elif isinstance(tp, type) and issubclass(tp, BaseModel):
            found.extend(_dict_fields(tp, seen))
        for arg in typing.get_args(tp):
            walk(arg, where)

    for name, field in model.model_fields.items():
        walk(field.annotation, f"{model.__name__}.{name}")
    return found


def test_npu_mcu_memory_roofline_profile_and_failures_are_typed():
    from edgekit.records import ArtifactRow, RunReport, RuntimeRow

    typed = {"RunReport.npu", "RunReport.failures", "ArtifactRow.memory_mb", "ArtifactRow.roofline",
             "ArtifactRow.profile", "ArtifactRow.latency_ms", "RuntimeRow.latency_ms"}
    fields = {f"{m.__name__}.{n}": m.model_fields[n].annotation for m in (RunReport, ArtifactRow, RuntimeRow)
              for n in m.model_fields}
    for name in sorted(typed):
        assert not _dict_fields(_holding(fields[name])), name
    assert not _dict_fields(_holding(fields["RunReport.mcu"])), "RunReport.mcu"

    assert _dict_fields(_holding(typing.Optional[dict])) == ["Holder.value"]  # the check sees a dict


def _holding(annotation) -> type[BaseModel]:
    from pydantic import create_model

    return create_model("Holder", value=(annotation, None))


def test_the_bench_files_run_stamp_is_typed_and_keeps_its_keys():
    """``run`` of the bench JSON is a record, and it writes the keys it always wrote: ``id`` and ``date``,
    and ``interleaved`` only for an interleaved run."""
    from edgekit.records import BenchFile, BenchRun

    assert not _dict_fields(_holding(BenchFile.model_fields["run"].annotation))
    plain, alternating = BenchRun.stamp(), BenchRun.stamp(interleaved=True)
    assert list(plain.model_dump()) == ["id", "date"] and plain.id != alternating.id
    assert alternating.model_dump()["interleaved"] is True
    doc = {"machine": {"cpu": "x"}, "run": plain.model_dump(), "results": []}
    assert BenchFile.model_validate(doc).model_dump() == doc
