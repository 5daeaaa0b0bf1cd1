"""Hugging Face Hub transfer: a thin layer over the real ``huggingface_hub`` client.

* :func:`resolve_checkpoint` finds what a backend needs, from a local folder
  or a Hub repo id: ``config.json`` first, whose commit is then pinned so that
  every later file comes from the same snapshot, then the weights in the
  backend's order of preference, downloading only the shards the index lists.
* :func:`upload_folder` pushes a saved folder in one commit, with a model card,
  and deletes shards of an earlier, differently sharded upload in that same
  commit, so a repo never holds a stale mix.
* :class:`PushToHubMixin` gives configs and models transformers 4.x's
  ``push_to_hub``.

Everything goes through ``huggingface_hub``, so ``HF_HOME``, ``HF_HUB_CACHE``,
``HF_TOKEN``, ``HF_HUB_OFFLINE`` and ``HF_ENDPOINT`` behave exactly as there.
Its exceptions come back as :class:`~modelport.errors.HubError` subclasses that
keep the client's exception as their cause. ``huggingface_hub`` is imported
only when a Hub operation runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import frameworks
from .errors import (
    HubAuthError,
    HubError,
    HubFileNotFoundError,
    HubOfflineError,
    HubRepoNotFoundError,
    HubRevisionNotFoundError,
    ModelportError,
    UnsupportedKeywordError,
)
from .filenames import WEIGHTS_NAMES, index_name, variant_name
from .locations import check_not_weights_file, is_local
from .sharding import is_shard_of

__all__ = [
    "ResolvedCheckpoint",
    "resolve_checkpoint",
    "download_file",
    "list_repo_files",
    "find_checkpoint",
    "upload_folder",
    "PushToHubMixin",
    "is_local",
    "list_repo_sizes",
    "read_range",
]

logger = logging.getLogger(__name__)

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHARD_DOWNLOAD_THREADS = 8


def _wrap(exc: Exception, repo_id: str, revision: str | None, filename: str | None = None) -> HubError:
    """The modelport error for a huggingface_hub exception (which stays the cause)."""
    from huggingface_hub import errors as hf

    where = f"{repo_id}@{revision or 'main'}" + (f":{filename}" if filename else "")
    if isinstance(exc, hf.GatedRepoError):
        return HubAuthError("the repository is gated: access must be requested and a token given", where=where,
                            fix="Accept the conditions on the repo page, then pass token= or set HF_TOKEN.")
    if isinstance(exc, hf.RepositoryNotFoundError):
        return HubRepoNotFoundError("the repository does not exist, or is private and no valid token was given", where=where,
                                    fix="Check the repo id; for a private repo pass token= or set HF_TOKEN.")
    if isinstance(exc, hf.RevisionNotFoundError):
        return HubRevisionNotFoundError("the revision does not exist", where=where, received=revision,
                                        fix="Use a branch, tag, commit hash or refs/pr/N of the repo.")
    if isinstance(exc, (hf.LocalEntryNotFoundError, hf.OfflineModeIsEnabled)):  # before: in 0.x it is an EntryNotFoundError
        return _offline_error(where)
    if isinstance(exc, getattr(hf, "RemoteEntryNotFoundError", hf.EntryNotFoundError)):  # 1.x's name; 0.x raises the base
        return HubFileNotFoundError("the file is not in the repository at this revision", where=where)
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return HubAuthError("the Hub refused the credentials", where=where, received=str(exc).splitlines()[0][:200],
                            fix="Check the token (token= or HF_TOKEN) and its permissions.")
    return HubError(
        f"Hub request failed ({type(exc).__name__})", where=where, received=str(exc).splitlines()[0][:300] if str(exc) else None
    )


def _offline_error(where: str) -> HubOfflineError:
    """The advice depends on why the Hub was not asked: offline mode on, or the network failing."""
    if offline_mode():
        return HubOfflineError("the file is not in the local cache, and offline mode is on (HF_HUB_OFFLINE)", where=where,
                               fix="Unset HF_HUB_OFFLINE to download it, or download it once on a machine that shares this cache.")
    return HubOfflineError("the file is not in the local cache, and the Hub could not be reached", where=where,
                           fix="Check the network (and HF_ENDPOINT if it is set), then try again.")


#: the HTTP stacks huggingface_hub has used (requests up to 0.x, httpx in 1.x) and their transport errors
_TRANSPORT_ERRORS = (("httpx2", "HTTPError"), ("httpx", "HTTPError"), ("requests", "RequestException"))


def _hf_errors() -> tuple[type[Exception], ...]:
    """What the client can raise: its own errors, and its HTTP stack's transport errors."""
    from huggingface_hub import errors as hf

    transport: tuple[type[Exception], ...] = ()
    for module, name in _TRANSPORT_ERRORS:
        try:
            transport += (getattr(__import__(module), name),)
        except (ImportError, AttributeError):
            continue
    return (hf.HfHubHTTPError, hf.LocalEntryNotFoundError, hf.OfflineModeIsEnabled, hf.EntryNotFoundError, OSError, ValueError, *transport)


def _verify_download(path: str, repo_id: str, filename: str) -> None:
    """Check a cached file against the hash it is stored under (the client checks sizes only).

    The Hub client names each blob by its ETag: the sha256 for LFS files, the git
    blob sha1 (``sha1("blob <size>\\0" + bytes)``) for regular ones.
    """
    blob = os.path.realpath(path)
    expected = os.path.basename(blob)
    if re.fullmatch(r"[0-9a-f]{64}", expected):
        digest = hashlib.sha256()
    elif re.fullmatch(r"[0-9a-f]{40}", expected):
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(b"blob %d\0" % os.path.getsize(blob))
    else:
        return  # an ETag of another kind (a mirror's): nothing to check against
    with open(blob, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        # never leave corrupt bytes in the cache under the final name (nor a link to them)
        os.unlink(blob)
        if path != blob and os.path.lexists(path):
            os.unlink(path)
        raise HubError(
            f"the downloaded bytes do not match the file's {digest.name}",
            where=f"{repo_id}:{filename}",
            expected=expected,
            received=digest.hexdigest(),
            fix="The download or a proxy corrupted it; it was removed from the cache. Try again.",
        )


def download_file(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    subfolder: str = "",
    cache_dir: str | os.PathLike[str] | None = None,
    force_download: bool = False,
    local_files_only: bool = False,
    token: str | bool | None = None,
    local_dir: str | os.PathLike[str] | None = None,
) -> str:
    """Download one file with ``huggingface_hub.hf_hub_download`` and check it against its hash.

    The hash is the one the file is cached under: sha256 for LFS files, the git blob
    sha1 for others. A damaged file (a bad mirror, or a cache poisoned by an old
    crash) is removed and downloaded once more; a second mismatch is a HubError.
    """
    shown = f"{subfolder}/{filename}" if subfolder else filename
    args = dict(subfolder=subfolder or None, revision=revision, cache_dir=cache_dir, force_download=force_download,
                local_files_only=local_files_only, token=token, local_dir=local_dir)
    path = _fetch(repo_id, filename, shown, revision, args)
    if local_dir is None:
        try:
            _verify_download(path, repo_id, shown)
        except HubError:
            if local_files_only:
                raise
            logger.warning("%s:%s: the file did not match its hash and was removed; downloading it again.", repo_id, shown)
            path = _fetch(repo_id, filename, shown, revision, args)
            _verify_download(path, repo_id, shown)
    return path


def _fetch(repo_id: str, filename: str, shown: str, revision: str | None, args: dict[str, Any]) -> str:
    """``hf_hub_download`` with bounded retries of what retrying can fix (5xx, 429, dropped connections)."""
    from huggingface_hub import hf_hub_download

    for attempt in range(_RETRIES + 1):
        started = time.monotonic()
        try:
            return hf_hub_download(repo_id, filename, library_name="modelport", **args)
        except _hf_errors() as exc:
            delay = _retry_delay(exc, attempt)
            if delay is not None and time.monotonic() - started > _CLIENT_RETRIED_AFTER:
                # huggingface_hub spent this long backing off and resuming itself (0.x retries a 5xx GET for 23 s):
                # retrying that again would multiply the wait before the user hears of the failure
                delay = None
            if delay is None:
                raise _wrap(exc, repo_id, revision, shown) from exc
            logger.warning(
                "%s:%s: %s; retrying in %.1f s (attempt %d of %d).",
                repo_id,
                shown,
                str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__,
                delay,
                attempt + 2,
                _RETRIES + 1,
            )
            time.sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def list_repo_files(repo_id: str, *, revision: str | None = None, token: str | bool | None = None) -> list[str]:
    """Every file path of a repo at ``revision`` (errors become modelport Hub errors)."""
    from huggingface_hub import HfApi

    try:
        return list(HfApi().list_repo_files(repo_id, revision=revision, token=token))
    except _hf_errors() as exc:
        raise _wrap(exc, repo_id, revision, "(file list)") from exc


def list_repo_sizes(repo_id: str, *, revision: str | None = None, token: str | bool | None = None) -> dict[str, int]:
    """Every file of a repo at ``revision`` with its size in bytes, from the Hub's tree listing."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

    if offline_mode():
        raise HubOfflineError("reading a repository's file list needs the Hub, and offline mode is on (HF_HUB_OFFLINE)",
                              where=f"{repo_id}@{revision or 'main'}", fix="Unset HF_HUB_OFFLINE, or inspect a downloaded folder.")
    try:
        entries = HfApi().list_repo_tree(repo_id, revision=revision, recursive=True, token=token)
        return {e.path: int(e.size) for e in entries if isinstance(e, RepoFile)}
    except _hf_errors() as exc:
        raise _wrap(exc, repo_id, revision, "(file list)") from exc


def read_range(repo_id: str, filename: str, start: int, stop: int, *, revision: str | None = None,
               token: str | bool | None = None) -> bytes:
    """Bytes ``[start, stop)`` of a repo file, with one HTTP range request through huggingface_hub (retried as it retries)."""
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, http_backoff

    if stop <= start:
        return b""
    url = hf_hub_url(repo_id, filename, revision=revision)
    headers = {**build_hf_headers(token=token), "Range": f"bytes={start}-{stop - 1}"}
    try:
        response = http_backoff("GET", url, headers=headers)
        hf_raise_for_status(response)
    except _hf_errors() as exc:
        raise _wrap(exc, repo_id, revision, filename) from exc
    data = response.content
    if response.status_code != 206:  # a server that ignores Range sends the whole file: keep only what was asked
        logger.warning("%s: the server ignored the range request (status %s)", filename, response.status_code)
        data = data[start:stop]
    return bytes(data[: stop - start])


_RETRIES = 3
_CLIENT_RETRIED_AFTER = 10.0  # seconds: an attempt that failed later than this was retried by the client itself
_RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
_MAX_RETRY_AFTER = 30.0


def _retry_delay(exc: Exception, attempt: int) -> float | None:
    """Seconds to wait before trying again, or None when retrying cannot help."""
    if attempt >= _RETRIES:
        return None
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status in _RETRY_STATUSES:
        retry_after = (getattr(response, "headers", None) or {}).get("retry-after")
        try:
            return min(float(retry_after), _MAX_RETRY_AFTER) if retry_after is not None else 0.5 * 2**attempt
        except ValueError:
            return 0.5 * 2**attempt
    transport = [cls for cls in _hf_errors() if cls.__module__.split(".")[0] in {m for m, _ in _TRANSPORT_ERRORS}]
    if status is None and transport and isinstance(exc, tuple(transport)):
        return 0.5 * 2**attempt  # connection reset or cut short: the client gave up on this try
    return None


def commit_of(path: str) -> str | None:
    """The commit a cached file belongs to: ``.../snapshots/<commit>/...``."""
    parts = Path(path).parts
    if "snapshots" in parts:
        candidate = parts[parts.index("snapshots") + 1]
        return candidate if _COMMIT.match(candidate) else None
    return None


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """What was found: the folder holding the files, the weights format and files, the pinned commit."""

    folder: Path
    config_file: Path | None
    format: str
    weights: list[Path]
    index_file: Path | None
    commit: str | None


def _candidates(framework: str, use_safetensors: bool | None, variant: str | None) -> list[tuple[str, str, str]]:
    order = list(frameworks.get(framework).load_preference)
    if use_safetensors is False:
        order = [f for f in order if f != "safetensors"]
    elif use_safetensors is True:
        order = ["safetensors"]
    return [(fmt, variant_name(WEIGHTS_NAMES[fmt], variant), index_name(WEIGHTS_NAMES[fmt], variant)) for fmt in order]


def resolve_checkpoint(
    name_or_path: str | os.PathLike[str],
    *,
    framework: str = "pt",
    revision: str | None = None,
    subfolder: str = "",
    variant: str | None = None,
    use_safetensors: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    force_download: bool = False,
    local_files_only: bool = False,
    token: str | bool | None = None,
    local_dir: str | os.PathLike[str] | None = None,
    need_config: bool = True,
) -> ResolvedCheckpoint:
    """Find (and download if needed) the config and the weights a backend needs.

    Args:
        framework: whose preference order to follow (``pt``: safetensors then
            ``.bin``; ``tf``: safetensors then h5; ``flax``: msgpack then safetensors).
        use_safetensors: ``True`` refuses any fallback, ``False`` skips safetensors.

    Raises:
        HubError: (a subclass) for unknown repos, revisions, files, auth or offline problems.
        CheckpointNotFoundError: none of the weights the framework reads are there.
    """
    from .errors import CheckpointNotFoundError
    from .index import read_index

    if framework not in frameworks.tags():
        raise HubError("unknown framework", where="resolve_checkpoint", expected=", ".join(frameworks.tags()), received=framework)
    candidates = _candidates(framework, use_safetensors, variant)
    if is_local(name_or_path):
        check_not_weights_file(name_or_path, f"loading a {framework} model")
        folder = Path(os.fspath(name_or_path)).expanduser() / subfolder
        for fmt, single, index in candidates:
            if (folder / single).is_file():
                return ResolvedCheckpoint(folder, _maybe(folder / "config.json"), fmt, [folder / single], None, None)
            if (folder / index).is_file():
                idx = read_index(folder / index)
                return ResolvedCheckpoint(
                    folder, _maybe(folder / "config.json"), fmt, [folder / s for s in idx.shard_files], folder / index, None
                )
        raise CheckpointNotFoundError(
            f"no weights a {framework} model reads",
            where=os.fspath(folder),
            expected=" or ".join(f"{s} (or {i})" for _, s, i in candidates),
        )

    repo_id = os.fspath(name_or_path)
    kwargs: dict[str, Any] = dict(subfolder=subfolder, cache_dir=cache_dir, force_download=force_download,
                                  local_files_only=local_files_only, token=token, local_dir=local_dir)
    config_file = None
    commit = revision if revision and _COMMIT.match(revision) else None
    if need_config:
        config_file = download_file(repo_id, "config.json", revision=revision, **kwargs)
        commit = commit_of(config_file) or commit
    pinned = commit or revision  # every later file from the same snapshot
    offline = local_files_only or offline_mode()
    uncached: list[str] = []
    for fmt, single, index in candidates:
        path = _maybe_download(repo_id, single, pinned, kwargs, offline, uncached)
        if path is not None:
            _log_offline_choice(repo_id, uncached, single)
            return ResolvedCheckpoint(Path(path).parent, _path_or_none(config_file), fmt, [Path(path)], None, commit or commit_of(path))
        index_path = _maybe_download(repo_id, index, pinned, kwargs, offline, uncached)
        if index_path is None:
            continue
        _log_offline_choice(repo_id, uncached, index)
        shards = read_index(index_path).shard_files
        paths = _download_many(repo_id, shards, pinned, kwargs)
        return ResolvedCheckpoint(
            Path(index_path).parent,
            _path_or_none(config_file),
            fmt,
            [Path(p) for p in paths],
            Path(index_path),
            commit or commit_of(index_path),
        )
    if uncached:
        raise HubOfflineError(
            f"no weights a {framework} model reads are in the local cache, and offline mode is on",
            where=f"{repo_id}@{pinned or 'main'}",
            expected=" or ".join(f"{s} (or {i})" for _, s, i in candidates),
            received="not cached: " + ", ".join(uncached),
            fix="Load it once while online (unset HF_HUB_OFFLINE, or drop local_files_only=True).",
        )
    raise HubFileNotFoundError(
        f"the repository has no weights a {framework} model reads",
        where=f"{repo_id}@{pinned or 'main'}",
        expected=" or ".join(f"{s} (or {i})" for _, s, i in candidates),
        fix="Pick another framework, or use_safetensors=None to allow every format.",
    )


def offline_mode() -> bool:
    """Whether huggingface_hub is in offline mode (``HF_HUB_OFFLINE``), asked the way the installed version answers."""
    from huggingface_hub import constants

    check = getattr(constants, "is_offline_mode", None)  # newer releases; 0.x has only the constant
    return bool(check()) if callable(check) else bool(constants.HF_HUB_OFFLINE)


def _maybe_download(repo_id: str, filename: str, revision: str | None, kwargs: dict[str, Any], offline: bool,
                    uncached: list[str]) -> str | None:
    """The file's path, or None when the repository has no such file at that commit; offline, also None when the
    cache cannot say (the name is added to ``uncached``): transformers moves on to the next candidate then too.

    huggingface_hub records what a repository lacks at a commit (``.no_exist``) when a request finds nothing;
    offline, that record is the only way to know that ``model.safetensors`` is absent and the index is the file.
    """
    try:
        return download_file(repo_id, filename, revision=revision, **kwargs)
    except HubFileNotFoundError:
        return None
    except HubOfflineError:
        if not offline:
            raise  # the Hub is unreachable although it should not be: never fall back past it
        if _recorded_absent(repo_id, filename, revision, kwargs):
            return None
        uncached.append(filename)
        return None


def _recorded_absent(repo_id: str, filename: str, revision: str | None, kwargs: dict[str, Any]) -> bool:
    from huggingface_hub import try_to_load_from_cache

    name = f"{kwargs['subfolder']}/{filename}" if kwargs.get("subfolder") else filename
    found = try_to_load_from_cache(repo_id, name, cache_dir=kwargs.get("cache_dir"), revision=revision)
    return found is not None and not isinstance(found, str)  # neither a path nor unknown: the "no such file" record


def _log_offline_choice(repo_id: str, uncached: list[str], chosen: str) -> None:
    if uncached:
        logger.warning("%s: offline, and %s not in the local cache; using the cached %s of the same commit.",
                       repo_id, " and ".join(uncached) + (" is" if len(uncached) == 1 else " are"), chosen)


def _maybe(path: Path) -> Path | None:
    return path if path.is_file() else None


def _path_or_none(path: str | None) -> Path | None:
    return Path(path) if path else None


def _download_many(repo_id: str, files: Sequence[str], revision: str | None, kwargs: dict[str, Any]) -> list[str]:
    """Download shards in parallel, with one progress bar over files (tqdm, off with HF_HUB_DISABLE_PROGRESS_BARS)."""
    from huggingface_hub.utils import tqdm as hf_tqdm

    results: dict[str, str] = {}
    with (
        ThreadPoolExecutor(max_workers=min(_SHARD_DOWNLOAD_THREADS, max(1, len(files)))) as pool,
        hf_tqdm(total=len(files), desc=f"Downloading {len(files)} shards", unit="file") as bar,
    ):
        futures = {name: pool.submit(download_file, repo_id, name, revision=revision, **kwargs) for name in files}
        for name, future in futures.items():
            results[name] = future.result()
            bar.update(1)
    return [results[name] for name in files]


def download_checkpoint(
    repo_id: str,
    *,
    framework: str = "pt",
    revision: str | None = None,
    local_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    token: str | bool | None = None,
) -> ResolvedCheckpoint:
    """Fetch only what ``framework`` needs (config and its weights): the ``modelport download`` command."""
    return resolve_checkpoint(repo_id, framework=framework, revision=revision, local_dir=local_dir, cache_dir=cache_dir, token=token)


# -- upload --------------------------------------------------------------------------------------
_SKIPPED = re.compile(r"^(\.git/|\.cache/|\.modelport-|.*/\.modelport-)")


def model_card_of(folder: Path, text: str = "") -> Any:
    """The folder's ``README.md`` as a huggingface_hub ``ModelCard``, or a new card with ``text`` below empty metadata."""
    from huggingface_hub import ModelCard, ModelCardData

    readme = folder / "README.md"
    return ModelCard.load(readme) if readme.is_file() else ModelCard(f"---\n{ModelCardData().to_yaml()}\n---\n{text}")


def _model_card(folder: Path, repo_id: str, tags: Iterable[str]) -> str:
    card = model_card_of(folder, f"\n# {repo_id.split('/')[-1]}\n\nSaved with [modelport](https://pypi.org/project/modelport/).\n")
    card.data.library_name = card.data.library_name or "modelport"
    merged = list(dict.fromkeys([*(card.data.tags or []), *tags]))
    card.data.tags = merged or None
    return str(card)


def _stale_remote_files(remote: Iterable[str], local: set[str]) -> list[str]:
    """Weights files of an earlier upload (shards, indexes, single files) that the new folder does not hold."""
    stale = []
    for path in remote:
        name = path.rsplit("/", 1)[-1]
        prefix = path[: -len(name)]
        for weights in WEIGHTS_NAMES.values():
            ours = name == weights or name == index_name(weights) or is_shard_of(name, weights)
            if not ours:
                continue
            # Only when the new folder has this format at all: never delete another format's files.
            same_format = any(
                f.startswith(prefix) and (f[len(prefix) :] in (weights, index_name(weights)) or is_shard_of(f[len(prefix) :], weights))
                for f in local
            )
            if same_format and path not in local:
                stale.append(path)
    return stale


def _refuse_offline_upload(repo_id: str) -> None:
    if offline_mode():
        raise HubOfflineError("uploading needs the Hub, and offline mode is on (HF_HUB_OFFLINE)", where=repo_id,
                              fix="Unset HF_HUB_OFFLINE (or set it to 0) for the upload.")


def upload_folder(
    folder: str | os.PathLike[str],
    repo_id: str,
    *,
    commit_message: str = "Upload model",
    commit_description: str | None = None,
    private: bool | None = None,
    create_pr: bool = False,
    revision: str | None = None,
    token: str | bool | None = None,
    tags: Sequence[str] = (),
    path_in_repo: str = "",
) -> Any:
    """Push a saved folder in one commit; return huggingface_hub's ``CommitInfo``.

    Creates the repo if needed (``private``), and the branch ``revision`` if it
    does not exist; writes a model card (``library_name: modelport``, the
    caller's ``tags`` merged with the card's own); deletes, in the same commit,
    weights files of an earlier upload of the same format that the new index no
    longer lists.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    _refuse_offline_upload(repo_id)
    folder = Path(folder)
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision and revision != "main" and not revision.startswith("refs/pr/") and not create_pr:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        try:
            remote = api.list_repo_files(repo_id, revision=revision)
        except Exception as exc:  # noqa: BLE001 - an empty or new branch lists nothing
            from huggingface_hub import errors as hf

            if not isinstance(exc, (hf.RevisionNotFoundError, hf.RemoteEntryNotFoundError)):
                raise
            remote = []
        prefix = f"{path_in_repo.strip('/')}/" if path_in_repo.strip("/") else ""
        local_files = sorted(p for p in folder.rglob("*") if p.is_file() and not _SKIPPED.match(p.relative_to(folder).as_posix()))
        local = {prefix + p.relative_to(folder).as_posix() for p in local_files}
        operations: list[Any] = [
            CommitOperationAdd(path_in_repo=prefix + p.relative_to(folder).as_posix(), path_or_fileobj=str(p))
            for p in local_files
            if p.name != "README.md" or p.parent != folder
        ]
        card = _model_card(folder, repo_id, tags).encode()
        operations.append(CommitOperationAdd(path_in_repo=prefix + "README.md", path_or_fileobj=card))
        local.add(prefix + "README.md")
        for path in _stale_remote_files(remote, local):
            operations.append(CommitOperationDelete(path_in_repo=path))
        return api.create_commit(
            repo_id,
            operations,
            commit_message=commit_message,
            commit_description=commit_description,
            revision=revision,
            create_pr=create_pr,
        )
    except ModelportError:
        raise
    except _hf_errors() as exc:
        raise _wrap(exc, repo_id, revision) from exc


def add_files(repo_id: str, files: dict[str, Path], *, commit_message: str, commit_description: str | None = None,
              create_pr: bool = False, parent_commit: str | None = None, token: str | bool | None = None) -> Any:
    """Add ``files`` (path in the repo -> local file) to an existing repo in one commit, touching nothing else; with
    ``create_pr`` the commit opens a pull request (``refs/pr/N``) and ``main`` is left alone. ``parent_commit`` makes
    the Hub refuse the commit if the branch moved since that commit (the one the files were made from)."""
    from huggingface_hub import CommitOperationAdd, HfApi

    _refuse_offline_upload(repo_id)
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in sorted(files.items())]
    try:
        return HfApi(token=token).create_commit(repo_id, operations, commit_message=commit_message,
                                                commit_description=commit_description, create_pr=create_pr,
                                                parent_commit=parent_commit)
    except ModelportError:
        raise
    except _hf_errors() as exc:
        raise _wrap(exc, repo_id, None) from exc


class PushToHubMixin:
    """``push_to_hub`` with transformers 4.x's signature, for anything with ``save_pretrained``."""

    def push_to_hub(
        self,
        repo_id: str,
        use_temp_dir: bool | None = None,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | bool | None = None,
        max_shard_size: int | str | None = "5GB",
        create_pr: bool = False,
        safe_serialization: bool = True,
        revision: str | None = None,
        commit_description: str | None = None,
        tags: list[str] | None = None,
        **deprecated_kwargs: Any,
    ) -> Any:
        """Save to a temporary folder (or ``repo_id`` as a local folder when ``use_temp_dir=False``) and upload it in one commit.

        ``use_auth_token`` is taken as ``token`` (with a warning); any other keyword is refused by name.
        """
        from .modeling.keywords import check_keywords

        where = f"{type(self).__name__}.push_to_hub"
        extra = check_keywords("push_to_hub", getattr(self, "framework", "pt"), deprecated_kwargs, where)
        token = extra.pop("token", token)
        if extra:
            raise UnsupportedKeywordError(
                "unknown keyword argument",
                where=where,
                received=", ".join(sorted(extra)),
                expected="a keyword of the transformers 4.x contract (docs/keywords.md)",
                fix="Check the spelling.",
            )
        if commit_message is None:
            name = type(self).__name__
            commit_message = "Upload config" if "Config" in name else "Upload tokenizer" if "Tokenizer" in name else "Upload model"
        save_kwargs: dict[str, Any] = {}
        import inspect

        params = inspect.signature(self.save_pretrained).parameters  # type: ignore[attr-defined]
        if "max_shard_size" in params:
            save_kwargs["max_shard_size"] = max_shard_size
        if "safe_serialization" in params:
            save_kwargs["safe_serialization"] = safe_serialization
        own_tags = list(getattr(self, "model_tags", None) or [])
        with contextlib.ExitStack() as stack:
            # use_temp_dir=False: save into a local folder named after the repo, as transformers does
            work = Path(repo_id.split("/")[-1]) if use_temp_dir is False else Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="modelport-push-")))
            self.save_pretrained(work, **save_kwargs)  # type: ignore[attr-defined]
            return upload_folder(work, repo_id, commit_message=commit_message, commit_description=commit_description,
                                 private=private, create_pr=create_pr, revision=revision, token=token,
                                 tags=[*own_tags, *(tags or [])])


def find_checkpoint(
    name_or_path: str | os.PathLike[str], frameworks: Sequence[str], *, use_safetensors: bool | None = None, **options: Any
) -> tuple[ResolvedCheckpoint, Any]:
    """The first of ``frameworks`` (``pt``, ``tf``, ``flax``) whose weights a folder or repo holds, opened.

    Every loader's fallback in one place: a PyTorch model can load a folder
    that holds only TF weights, and so on. ``use_safetensors`` applies to the
    first (preferred) framework; ``options`` go to :func:`resolve_checkpoint`.

    Returns:
        ``(resolved, checkpoint)``: where the files are (and the pinned commit), and the opened ``Checkpoint``.

    Raises:
        CheckpointNotFoundError or HubFileNotFoundError: none of them is there (the last framework's error).
    """
    from .checkpoint import Checkpoint
    from .errors import CheckpointNotFoundError

    last: Exception | None = None
    for i, framework in enumerate(frameworks):
        try:
            found = resolve_checkpoint(
                name_or_path, framework=framework, use_safetensors=use_safetensors if i == 0 else None, need_config=False, **options
            )
        except (CheckpointNotFoundError, HubFileNotFoundError) as exc:
            last = exc
            continue
        if i:
            logger.info("%s holds no %s weights; loading its %s checkpoint.", name_or_path, frameworks[0], framework)
        return found, Checkpoint.open(found.folder, format=found.format, variant=options.get("variant"))
    assert last is not None, "no framework given"
    raise last
