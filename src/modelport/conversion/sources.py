"""Where a conversion reads from and writes to: the source (folder or Hub repo), the files that go with the
weights, a destination that is safe to write, and the model card of the result."""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..checkpoint import Checkpoint
from ..errors import ConversionError
from ..filenames import is_weights_file
from ..hub import find_checkpoint, model_card_of, offline_mode
from ..locations import check_not_weights_file, is_local

__all__ = ["Source", "open_source", "belongs_with_checkpoint", "copy_companion_files", "check_destination",
           "remove_other_weights", "write_model_card"]

logger = logging.getLogger(__name__)

#: files that travel with a checkpoint: configs, tokenizer and vocabulary files, and the modules of a
#: sentence-transformers model (``1_Pooling/config.json``). Exports (ONNX, OpenVINO, Core ML, Rust), code
#: and anything else stay behind: they describe the source's framework, not the result's.
_COMPANIONS = (
    re.compile(r"[^/]+\.json"),
    re.compile(r"[^/]+\.txt"),  # vocab.txt, merges.txt
    re.compile(r"[^/]+\.(model|tiktoken)"),  # sentencepiece, tiktoken vocabularies
    re.compile(r"README\.md"),
    re.compile(r"\d+_[A-Za-z]\w*/[^/]+\.(json|txt)"),
)


@dataclass(frozen=True)
class Source:
    """An opened conversion source."""

    folder: Path  # the local folder (a Hub snapshot for a repo)
    checkpoint: Checkpoint
    repo_id: str | None = None  # set for a Hub source
    commit: str | None = None


def belongs_with_checkpoint(relative: str) -> str | None:
    """None when the file (a path relative to the checkpoint folder) is copied beside the result; else why not."""
    name = relative.rsplit("/", 1)[-1]
    if relative.startswith(".") or "/." in relative:
        return "hidden"
    if "/" not in relative and is_weights_file(name):
        return "weights"
    if any(pattern.fullmatch(relative) for pattern in _COMPANIONS):
        return None
    if name.endswith(".py"):
        return "code is never copied"
    if is_weights_file(name) or name.endswith((".onnx", ".ot", ".bin", ".xml", ".mlmodel", ".pb", ".tflite", ".gguf")):
        return "weights or an export for another runtime"
    return "not a configuration, tokenizer or model card file"


def open_source(source: str | os.PathLike[str], revision: str | None, token: str | bool | None,
                cache_dir: str | os.PathLike[str] | None, subfolder: str) -> Source:
    """Open a local folder, or download a Hub repo's weights (any framework) and the files that go with them."""
    if is_local(source):
        local = Path(os.fspath(source)).expanduser() / subfolder
        if local.is_file() and local.suffix == ".gguf":  # a GGUF file carries its config: the file is the checkpoint
            return Source(local.parent, Checkpoint.open(local, format="gguf"))
        check_not_weights_file(source, "converting")
        return Source(local, Checkpoint.open(local))
    from ..hub import download_file, list_repo_files

    repo_id = os.fspath(source)
    found, ckpt = find_checkpoint(repo_id, ("pt", "tf", "flax"), revision=revision, token=token, cache_dir=cache_dir,
                                  subfolder=subfolder)
    if offline_mode():
        # The file list needs the Hub: offline, the other files are what the cache holds of that snapshot.
        logger.info("%s: offline; copying the files the cache holds beside the weights", source)
        return Source(found.folder, ckpt, repo_id, found.commit)
    pinned = found.commit or revision
    prefix = f"{subfolder.strip('/')}/" if subfolder else ""
    for path in list_repo_files(repo_id, revision=pinned, token=token):
        if path.startswith(prefix) and belongs_with_checkpoint(path[len(prefix):]) is None:
            download_file(repo_id, path[len(prefix):], revision=pinned, token=token, cache_dir=cache_dir, subfolder=subfolder)
    return Source(found.folder, ckpt, repo_id, found.commit)


def copy_companion_files(source: Path, destination: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Copy what belongs with the checkpoint; return ``(copied, skipped with the reason)``. Weights are neither."""
    copied, skipped = [], []
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(source).as_posix()
        why = belongs_with_checkpoint(relative)
        if why in ("hidden", "weights"):
            continue
        if why is not None:
            skipped.append((relative, why))
            continue
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)  # follows the Hub cache's symlinks
        copied.append(relative)
    for relative, why in skipped:
        logger.info("%s: not copied (%s)", source / relative, why)
    return copied, skipped


def check_destination(out: Path, source_folder: Path, overwrite: bool) -> None:
    """Refuse a destination that is a file, or a folder holding other weights (unless ``overwrite``), before any work."""
    if out.exists() and not out.is_dir():
        raise ConversionError("the destination is a file, not a folder", where=str(out),
                              expected="a folder to write the checkpoint into (it is created if missing)",
                              received="an existing file", fix="Pass a folder path: the converted checkpoint is several files.")
    if not out.is_dir() or out.resolve() == source_folder.resolve() or overwrite:
        return
    present = sorted(p.name for p in out.iterdir() if p.is_file() and is_weights_file(p.name))
    if present:
        raise ConversionError(
            "the destination already holds weights, which the conversion would overwrite or mix with its own",
            where=str(out), expected="an empty or new folder", received=", ".join(present),
            fix="Choose another folder, or pass --overwrite (overwrite=True) to replace them: the folder will then hold only "
                "the converted checkpoint.",
        )


def remove_other_weights(out: Path, written: list[str]) -> list[str]:
    """After an ``overwrite`` conversion: delete weights files the conversion did not write, so the folder is not mixed."""
    removed = []
    for path in sorted(out.iterdir()):
        if path.is_file() and is_weights_file(path.name) and path.name not in written:
            path.unlink()
            removed.append(path.name)
    if removed:
        logger.info("%s: removed the weights the conversion replaced: %s", out, ", ".join(removed))
    return removed


def write_model_card(out: Path, source: Source, source_framework: str, target: str, file_format: str) -> None:
    """The result's README.md: the source's card, with ``base_model`` (a Hub source) and a note of the conversion."""
    readme = out / "README.md"
    card = model_card_of(out)
    data: Any = card.data  # ModelCardData: its fields are set by name
    origin = source.repo_id or "a local checkpoint"
    if source.repo_id:
        data.base_model = source.repo_id
        origin = f"`{source.repo_id}`" + (f" at commit `{source.commit}`" if source.commit else "")
    data.tags = list(dict.fromkeys([*(data.tags or []), "modelport"]))
    card.text = (card.text.rstrip() + "\n\n" if card.text.strip() else "") + (
        f"## Conversion\n\nConverted from {origin} ({source_framework} weights) to {target} ({file_format}) "
        f"with modelport {__version__}.\n"
    )
    readme.write_text(str(card), encoding="utf-8")
