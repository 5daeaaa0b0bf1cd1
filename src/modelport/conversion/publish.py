"""Pushing a conversion's result: to a repo of its own, or back to the source repo as a rescue pull request.

A rescue is what the Hub's safetensors bot does for ``.bin`` repositories, for TF
and Flax ones: converted weights (sharded, with their index) are added to the
repository they came from in one commit, every other file untouched, and the
commit's description says what was converted, from which commit, and how it was
checked. With ``create_pr`` the commit is a pull request (``refs/pr/N``) and
``main`` does not change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import __version__
from ..hub import add_files, upload_folder
from .report import ConversionReport
from .sources import Source

__all__ = ["push_conversion", "rescue_description"]


def push_conversion(report: ConversionReport, source: Source, repo_id: str, *, create_pr: bool = False,
                    token: str | bool | None = None) -> Any:
    """Upload ``report``'s result to ``repo_id`` in one commit; return huggingface_hub's ``CommitInfo``.

    Into the source repo itself, only the converted weights and their index are added (a rescue); into any other
    repo, the whole result folder goes, as ``upload`` sends it.
    """
    destination = Path(report.destination)
    if source.repo_id is not None and source.repo_id == repo_id:
        return add_files(repo_id, {name: destination / name for name in _added(report)}, commit_message=_title(report),
                         commit_description=rescue_description(report, source), create_pr=create_pr,
                         parent_commit=source.commit, token=token)
    return upload_folder(destination, repo_id, commit_message=f"Convert to {report.target_framework} ({report.format}) "
                         "with modelport", commit_description=rescue_description(report, source, rescue=False),
                         create_pr=create_pr, token=token)


def _added(report: ConversionReport) -> list[str]:
    """The files a rescue adds: the weights, their index, and config.json when PyTorch must be told to untie weights."""
    return [*report.files, *([report.index_file] if report.index_file else []), *(["config.json"] if report.config_changes else [])]


_FRAMEWORK_NAMES = {"pt": "PyTorch", "tf": "TensorFlow", "flax": "Flax"}


def _title(report: ConversionReport) -> str:
    return f"Add {_FRAMEWORK_NAMES.get(report.target_framework, report.target_framework)} weights ({report.files[0]}" + (
        f" and {len(report.files) - 1} more shards)" if len(report.files) > 1 else ")")


def rescue_description(report: ConversionReport, source: Source, *, rescue: bool = True) -> str:
    """What was converted, from which commit, and how it was checked (a pull request's description); ``rescue``: the
    commit adds to the source repo and changes nothing else."""
    origin = f"`{source.repo_id}` at commit `{source.commit}`" if source.repo_id else "a local folder"
    weights = sorted(path.name for path in source.checkpoint.files)
    lines = [
        f"This commit adds {_FRAMEWORK_NAMES.get(report.target_framework, report.target_framework)} weights converted by "
        f"modelport {__version__} from {origin}.",
        "",
        f"- Source weights: {', '.join(weights)} ({_FRAMEWORK_NAMES.get(report.source_framework, report.source_framework)}).",
        f"- Weights: {', '.join([*report.files, *([report.index_file] if report.index_file else [])])} "
        f"({report.bytes / 1e6:,.1f} MB, {len(report.converted)} tensors)."
        + ("".join(f" config.json: {change}." for change in report.config_changes))
        + (" No other file is changed." if rescue else ""),
        f"- Every stored tensor is accounted for: {len(report.converted)} written, {len(report.dropped)} left out"
        + (" (" + "; ".join(f"`{name}`: {why}" for name, why in report.dropped[:10])
           + ("; ..." if len(report.dropped) > 10 else "") + ")" if report.dropped else "")
        + f", {len(report.missing)} missing, {len(report.unexpected)} unexpected.",
    ]
    if report.verification is not None:
        diffs = ", ".join(f"{name} {value:.1e}" for name, value in report.verification.items())
        lines.append(f"- Verified: both checkpoints were run on a fixed probe input ({report.verified_with}); every output "
                     f"agrees within {report.tolerance:.0e} (max |diff|: {diffs}).")
    else:
        lines.append("- Not verified by running the models (convert with --verify to do so).")
    return "\n".join(lines) + "\n"
