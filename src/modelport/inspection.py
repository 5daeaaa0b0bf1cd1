"""What ``modelport inspect`` reports, for a local checkpoint or a Hub repository, from headers alone.

A remote safetensors checkpoint is described without downloading weights: each file's header is
read with HTTP range requests (the 8-byte length, then the JSON) through huggingface_hub, and
checked by the same rules as a local file. Only ``config.json`` and the index are downloaded
(small, and cached as any download is).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import frameworks
from .checkpoint import Checkpoint
from .dtypes import DTYPES
from .errors import ConfigError, FormatError, HubFileNotFoundError, ModelportError
from .filenames import WEIGHTS_NAMES, index_name
from .formats.base import TensorInfo
from .jsonio import read_json_file
from .locations import is_local
from .sharding import human_bytes, is_shard_of

__all__ = ["inspect_checkpoint", "local_report", "remote_report", "split_revision"]


#: the first range request: enough for the header of most checkpoints (a few hundred tensors)
FIRST_RANGE_BYTES = 64 * 1024


def inspect_checkpoint(target: str | os.PathLike[str], *, with_tensors: bool = False, revision: str | None = None,
                       token: str | bool | None = None) -> dict[str, Any]:
    """The ``inspect`` report of a local folder or file, or of a Hub repo (``org/name`` or ``org/name@revision``)."""
    name = os.fspath(target)
    repo_id, at = (name, None) if os.path.exists(name) else split_revision(name)
    if is_local(repo_id):
        return local_report(name, with_tensors=with_tensors)
    return remote_report(repo_id, revision=revision or at, token=token, with_tensors=with_tensors)


def split_revision(name: str) -> tuple[str, str | None]:
    """``org/name@v1.0`` is the repo ``org/name`` at revision ``v1.0`` (the syntax of pip and of hf's docs)."""
    repo_id, sep, revision = name.partition("@")
    return repo_id, (revision or None) if sep else None


def _config_facts(read: Any, where: str) -> dict[str, Any]:
    """``model_type`` and ``architectures`` from config.json, or why they could not be read."""
    facts: dict[str, Any] = {"model_type": None, "architectures": None, "config_error": None}
    try:
        config = read()
    except FileNotFoundError:
        facts["config_error"] = f"{where}: no config.json"
        return facts
    except (ModelportError, OSError, ValueError) as exc:
        facts["config_error"] = str(exc)
        return facts
    if not isinstance(config, dict):
        facts["config_error"] = str(ConfigError("config.json must hold a JSON object", where=where, received=type(config).__name__))
        return facts
    facts["model_type"] = config.get("model_type") if isinstance(config.get("model_type"), str) else None
    architectures = config.get("architectures")
    facts["architectures"] = [a for a in architectures if isinstance(a, str)] if isinstance(architectures, list) else None
    if facts["model_type"] is None:
        facts["config_error"] = f"{where}: config.json has no model_type string"
    return facts


def _summary(infos: list[TensorInfo], with_tensors: bool) -> dict[str, Any]:
    report: dict[str, Any] = {
        "tensor_count": len(infos),
        "parameter_count": sum(math.prod(i.shape) for i in infos if DTYPES[i.dtype].is_floating),
        "value_count": sum(math.prod(i.shape) for i in infos),
        "total_bytes": sum(i.nbytes for i in infos),
        "dtypes": dict(sorted(Counter(i.dtype for i in infos).items())),
    }
    if with_tensors:
        report["tensors"] = [{"name": i.name, "dtype": i.dtype, "shape": list(i.shape), "file": Path(i.file).name} for i in infos]
    return report


def local_report(path: str | os.PathLike[str], *, with_tensors: bool = False) -> dict[str, Any]:
    """The report of a checkpoint folder or weights file (docs/cli.md lists the keys)."""
    ckpt = Checkpoint.open(path)
    files = [{"name": f.name, "bytes": f.stat().st_size} for f in ckpt.files]
    if ckpt.index is not None and ckpt.index.path:
        index = Path(ckpt.index.path)
        files.append({"name": index.name, "bytes": index.stat().st_size})
    folder = ckpt.path if ckpt.path.is_dir() else ckpt.path.parent
    config_file = folder / "config.json"
    report: dict[str, Any] = {
        "path": str(ckpt.path),
        "source": "local",
        "framework": ckpt.framework,
        "format": ckpt.format,
        "sharded": ckpt.index is not None,
        "files": files,
        **_config_facts((lambda: ckpt.gguf_config) if ckpt.format == "gguf" else (lambda: read_json_file(config_file)),
                        str(ckpt.path) if ckpt.format == "gguf" else str(config_file)),
        **_summary([ckpt.info(n) for n in ckpt], with_tensors),
        "metadata": {k: str(v) for k, v in sorted(ckpt.metadata.items())},
    }
    return report


def remote_report(repo_id: str, *, revision: str | None = None, token: str | bool | None = None,
                  with_tensors: bool = False) -> dict[str, Any]:
    """The report of a Hub repo's weights, from safetensors headers read with range requests: no weights are downloaded.

    A repo without safetensors weights (only ``.bin``, ``tf_model.h5`` or ``flax_model.msgpack``) is
    described by its files and config; those formats keep their tensor list inside the file, so the
    report says how to see it.
    """
    from . import hub

    where = f"{repo_id}@{revision or 'main'}"
    config_path: str | None = None
    try:
        config_path = hub.download_file(repo_id, "config.json", revision=revision, token=token)
    except HubFileNotFoundError:
        pass
    commit = hub.commit_of(config_path) if config_path else None
    pinned = commit or revision
    sizes = hub.list_repo_sizes(repo_id, revision=pinned, token=token)
    report: dict[str, Any] = {"path": f"{repo_id}@{commit or revision or 'main'}", "source": "hub"}
    config_facts = _config_facts(
        (lambda: read_json_file(config_path)) if config_path else _raise_missing, f"{where}:config.json"
    )
    single, index = WEIGHTS_NAMES["safetensors"], index_name(WEIGHTS_NAMES["safetensors"])
    if index in sizes:
        index_file = hub.download_file(repo_id, index, revision=pinned, token=token)
        from .index import read_index

        parsed = read_index(index_file)
        shard_names = parsed.shard_files
        metadata = {k: str(v) for k, v in parsed.metadata.items()}
    elif single in sizes:
        shard_names, metadata = [single], {}
    else:
        return {**report, **_without_headers(repo_id, sizes, where), **config_facts}
    headers = [_remote_header(repo_id, name, sizes, pinned, token) for name in shard_names]
    found = {h.format or "pt" for h in headers}
    if len(found) > 1:
        raise FormatError("shards disagree about who wrote them", where=where, received=sorted(found))
    framework = found.pop()
    if framework not in frameworks.tags():
        framework = "pt"
    for h in headers:
        metadata.update({k: v for k, v in h.metadata.items()})
    files = [{"name": n, "bytes": sizes[n]} for n in shard_names] + ([{"name": index, "bytes": sizes[index]}] if index in sizes else [])
    infos = [replace(info, file=name) for name, h in zip(shard_names, headers) for info in h.tensors.values()]
    return {
        **report, "framework": framework, "format": "safetensors", "sharded": index in sizes, "files": files,
        **config_facts, **_summary(infos, with_tensors), "metadata": dict(sorted(metadata.items())),
    }


def _raise_missing() -> Any:
    raise FileNotFoundError("config.json")


def _remote_header(repo_id: str, name: str, sizes: dict[str, int], revision: str | None, token: str | bool | None) -> Any:
    """One file's validated header: a first range request, and a second only when the header is longer."""
    from . import hub
    from .formats.safetensors import header_length, parse_header

    size = sizes[name]
    where = f"{repo_id}@{revision or 'main'}:{name}"
    first = hub.read_range(repo_id, name, 0, min(size, FIRST_RANGE_BYTES), revision=revision, token=token)
    header_size = header_length(first, size, where)
    raw = first[8 : 8 + header_size]
    if len(raw) < header_size:
        raw += hub.read_range(repo_id, name, 8 + len(raw), 8 + header_size, revision=revision, token=token)
    if len(raw) != header_size:
        raise FormatError("the Hub returned fewer header bytes than the file announces", where=where,
                          expected=f"{header_size} bytes", received=f"{len(raw)} bytes")
    return parse_header(raw, size, where)


def _without_headers(repo_id: str, sizes: dict[str, int], where: str) -> dict[str, Any]:
    """What can be said of a repo whose weights keep their tensor list inside the file (h5, msgpack, .bin)."""
    from .formats import registry as file_formats

    for fmt in ("bin", "h5", "msgpack"):
        single, index = WEIGHTS_NAMES[fmt], index_name(WEIGHTS_NAMES[fmt])
        names = [n for n in sizes if n == single or n == index or is_shard_of(n, single)]
        if names:
            framework = file_formats.get(fmt).framework or "pt"
            return {
                "framework": framework, "format": fmt, "sharded": index in names,
                "files": [{"name": n, "bytes": sizes[n]} for n in sorted(names)],
                "tensor_count": None, "parameter_count": None, "value_count": None, "total_bytes": None, "dtypes": None,
                "metadata": {},
                "note": f"{fmt} files hold their tensor list inside the file, so it cannot be read without downloading "
                        f"{human_bytes(sum(sizes[n] for n in names))}. To see it: modelport download {repo_id} --framework "
                        f"{framework}, then modelport inspect on the folder it prints.",
            }
    raise HubFileNotFoundError("the repository holds no weights modelport reads", where=where,
                               expected=", ".join(WEIGHTS_NAMES.values()) + " (or a sharded index)",
                               received=", ".join(sorted(sizes)) or "no files")


def _is_shard(name: str, single: str) -> bool:
    from .sharding import is_shard_of

    return is_shard_of(name, single)
