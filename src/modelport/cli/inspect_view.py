"""``modelport inspect`` as text: the report of :mod:`modelport.inspection`, for people."""

from __future__ import annotations

from typing import Any

from ..sharding import human_bytes

__all__ = ["render"]

_WRITERS = {"pt": "PyTorch", "tf": "TensorFlow", "flax": "Flax"}


def render(report: dict[str, Any], *, with_tensors: bool = False) -> str:
    lines = [report["path"]]
    architecture = ", ".join(report["architectures"] or []) or "-"
    lines.append(f"  model        {report['model_type'] or '?'} ({architecture})")
    if report["config_error"]:
        lines.append(f"  config       broken: {report['config_error']}")
    lines.append(f"  written by   {_WRITERS.get(report['framework'], report['framework'])} ({report['framework']})")
    lines.append(f"  format       {report['format']}" + (" (sharded)" if report["sharded"] else ""))
    if report["tensor_count"] is not None:
        lines.append(f"  tensors      {report['tensor_count']:,}")
        lines.append(f"  parameters   {report['parameter_count']:,} floating-point ({report['value_count']:,} values in all)")
        lines.append(f"  size         {human_bytes(report['total_bytes'])} of tensor data")
        lines.append("  dtypes       " + ", ".join(f"{k} x{v}" for k, v in report["dtypes"].items()))
    lines.append("  files")
    lines.extend(f"    {human_bytes(f['bytes']):>10}  {f['name']}" for f in report["files"])
    if report.get("note"):
        lines.append(f"  note         {report['note']}")
    if with_tensors and report.get("tensors"):
        width = max(len(t["name"]) for t in report["tensors"])
        lines.append("  tensors")
        for t in report["tensors"]:
            shape = "x".join(map(str, t["shape"])) or "scalar"
            lines.append(f"    {t['name']:<{width}}  {t['dtype']:<9} {shape:<16} {t['file']}")
    return "\n".join(lines)
