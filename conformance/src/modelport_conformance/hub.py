"""A local server that speaks the part of the Hugging Face Hub protocol the client uses.

Tests point the real ``huggingface_hub`` client at it with ``HF_ENDPOINT``
(set before ``huggingface_hub`` is imported, with ``HF_HUB_DISABLE_XET=1`` so
uploads take the Git LFS path). It binds 127.0.0.1 on a free port, keeps repos
in a temporary folder and logs every request, so tests can assert on what
the client asked for. Adapter authors can use it the same way.

>>> hub = LocalHub(tokens={"hf_token": "alice"})          # doctest: +SKIP
>>> hub.start(); os.environ["HF_ENDPOINT"] = hub.endpoint  # doctest: +SKIP

Routes: whoami; repo create and delete; model info (by revision); tree
listing with ``Link`` pagination; refs; preupload; the LFS batch API with
basic transfer and a sha256 check; NDJSON commits on branches and
``refs/pr/N`` (``create_pr``), with ``parentCommit`` checks; branch and tag
creation and deletion; YAML validation; HEAD and GET on ``resolve`` with
``Range``. Errors carry ``X-Error-Code`` / ``X-Error-Message`` as the Hub's do.

Faults for tests: :meth:`LocalHub.add_fault` makes matching requests fail
with a status (optionally with ``Retry-After``), drop the connection part-way
through the body, announce a wrong size, or send wrong bytes of the right size.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

__all__ = ["LocalHub", "Fault"]

LFS_THRESHOLD = 10 * 1024 * 1024  # files of at least this size take the LFS path
#: and weight files always do, as the Hub's default .gitattributes says
LFS_SUFFIXES = (".safetensors", ".bin", ".h5", ".msgpack", ".pt", ".pth", ".ckpt", ".npz")
_HEX40 = set("0123456789abcdef")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class _File:
    sha256: str
    size: int
    lfs: bool
    git_oid: str  # git blob sha1 for regular files, the sha256 for LFS files

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.git_oid


@dataclass
class _Commit:
    oid: str
    files: dict[str, _File]
    title: str
    description: str
    parent: str | None
    date: float


@dataclass
class _Repo:
    repo_id: str
    private: bool
    gated: bool = False
    commits: dict[str, _Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    prs: dict[int, str] = field(default_factory=dict)


@dataclass
class Fault:
    """Make matching requests misbehave.

    ``kind`` is ``"status"`` (answer ``status``, with ``Retry-After`` when
    ``retry_after`` is set), ``"drop"`` (send headers and ``after_bytes`` of the
    body, then close the connection), ``"wrong_size"`` (a HEAD that announces one
    byte more than the file has), ``"wrong_bytes"`` (right size, one byte flipped),
    ``"no_headers"`` (no ``ETag``, ``X-Linked-Etag`` or ``X-Repo-Commit``), ``"stall"``
    (send ``after_bytes`` of the body, then nothing for ``stall_seconds``, then close), ``"delay"``
    (wait ``stall_seconds``, then answer normally).
    ``times`` counts how many requests it hits (then it is spent).
    """

    method: str
    path_contains: str
    kind: str
    times: int = 1
    status: int = 500
    retry_after: int | None = None
    after_bytes: int = 0
    stall_seconds: float = 10.0


class _HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None,
                 body: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers, self.body = status, message, code, headers or {}, body


class LocalHub:
    """The server. ``tokens`` maps token to user name; ``orgs`` maps user to the organisations they belong to."""

    def __init__(self, tokens: dict[str, str] | None = None, orgs: dict[str, list[str]] | None = None,
                 root: str | Path | None = None, page_size: int = 1000) -> None:
        self.tokens = dict(tokens or {"hf_modelport_test": "tester"})
        self.orgs = dict(orgs or {"tester": ["modelport-test"]})
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="modelport-hub-"))
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        self.page_size = page_size
        self.repos: dict[str, _Repo] = {}
        self.log: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self._uploads: dict[str, tuple[str, int]] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> LocalHub:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="modelport-local-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start() the hub first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- test helpers -----------------------------------------------------------------
    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def requests(self, method: str | None = None, contains: str = "") -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.log if (method is None or r["method"] == method) and contains in r["path"]]

    def set_gated(self, repo_id: str, gated: bool = True) -> None:
        self.repos[repo_id].gated = gated

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files of a revision, read from the store (for assertions)."""
        repo = self.repos[repo_id]
        commit = repo.commits[self._resolve(repo, revision)]
        return {path: (self.root / "blobs" / f.sha256).read_bytes() for path, f in commit.files.items()}

    # -- internals ------------------------------------------------------------------------
    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.path_contains in path:
                    fault.times -= 1
                    return fault
        return None

    def _user(self, headers) -> str | None:
        auth = headers.get("authorization") or ""
        if not auth:
            return None
        token = auth.removeprefix("Bearer ").strip()
        user = self.tokens.get(token)
        if user is None:
            raise _HubError(401, "Invalid credentials in Authorization header")
        return user

    def _namespaces(self, user: str | None) -> set[str]:
        return set() if user is None else {user, *self.orgs.get(user, [])}

    def _repo(self, repo_id: str, user: str | None, *, write: bool = False) -> _Repo:
        repo = self.repos.get(repo_id)
        owner_ok = repo_id.split("/")[0] in self._namespaces(user)
        if repo is None or (repo.private and not owner_ok):
            status = 401 if user is None else 404
            raise _HubError(status, f"Repository Not Found for url: {repo_id}.", "RepoNotFound")
        if repo.gated and user is None:
            raise _HubError(401, f"Access to model {repo_id} is restricted. You must have access to it.", "GatedRepo")
        if write and not owner_ok:
            raise _HubError(403, f"You don't have the rights to write to {repo_id}")
        return repo

    def _resolve(self, repo: _Repo, rev: str) -> str:
        if rev in repo.branches:
            return repo.branches[rev]
        if rev in repo.tags:
            return repo.tags[rev]
        if rev.startswith("refs/pr/") and rev[8:].isdigit() and int(rev[8:]) in repo.prs:
            return repo.prs[int(rev[8:])]
        if rev.startswith("refs/heads/") and rev[11:] in repo.branches:
            return repo.branches[rev[11:]]
        if len(rev) == 40 and set(rev) <= _HEX40 and rev in repo.commits:
            return rev
        raise _HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    def _new_commit(self, repo: _Repo, files: dict[str, _File], title: str, description: str, parent: str | None) -> str:
        oid = hashlib.sha1(f"{repo.repo_id}{parent}{title}{time.time_ns()}{secrets.token_hex(4)}".encode()).hexdigest()
        repo.commits[oid] = _Commit(oid, files, title, description, parent, time.time())
        return oid

    def _store_blob(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        target = self.root / "blobs" / sha
        if not target.exists():
            tmp = target.with_suffix(".tmp" + secrets.token_hex(4))
            tmp.write_bytes(data)
            tmp.replace(target)
        return sha


class _Handler(BaseHTTPRequestHandler):
    hub: LocalHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing ----------------------------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, *, head: bool = False,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body and self.command != "HEAD":  # a HEAD reply never has a body, errors included
            self.wfile.write(body)
        self._status = status

    def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(value).encode(), headers)

    def _dispatch(self, method: str) -> None:
        hub = self.hub
        split = urlsplit(self.path)
        raw_parts = split.path.split("/")[1:]
        parts = [unquote(p) for p in raw_parts]  # split before unquoting: revisions may hold %2F
        query = parse_qs(split.query)
        body = self._body() if method in ("POST", "PUT", "DELETE") else b""
        self._status = 0
        entry = {"method": method, "path": split.path, "query": split.query, "time": time.time(), "status": None,
                 "range": self.headers.get("range")}
        with hub._lock:  # logged before answering, so a client that got its answer always finds the entry
            hub.log.append(entry)
        try:
            fault = hub._fault_for(method, split.path)
            if fault is not None and fault.kind == "status":
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                self._json(fault.status, {"error": "injected fault"}, headers)
                return
            self._route(method, parts, query, body, fault)
        except _HubError as exc:
            headers = {"X-Error-Message": exc.message, **exc.headers}
            if exc.code:
                headers["X-Error-Code"] = exc.code
            self._json(exc.status, exc.body or {"error": exc.message}, headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            entry["status"] = self._status

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- routing ---------------------------------------------------------------------------------
    def _route(self, method: str, parts: list[str], query: dict, body: bytes, fault: Fault | None) -> None:
        hub = self.hub
        user = hub._user(self.headers)
        if parts[:2] == ["api", "whoami-v2"] and method == "GET":
            if user is None:
                raise _HubError(401, "Invalid user token")
            return self._json(200, {"type": "user", "name": user, "orgs": [{"name": o} for o in hub.orgs.get(user, [])],
                                    "auth": {"accessToken": {"role": "write"}}})
        if parts[:2] == ["api", "validate-yaml"] and method == "POST":
            return self._json(200, {})
        if parts[:3] == ["api", "repos", "create"] and method == "POST":
            return self._create_repo(user, json.loads(body or b"{}"))
        if parts[:3] == ["api", "repos", "delete"] and method == "DELETE":
            data = json.loads(body or b"{}")
            repo_id = f"{data.get('organization') or user}/{data['name']}"
            hub._repo(repo_id, user, write=True)
            with hub._lock:
                del hub.repos[repo_id]
            return self._json(200, {})
        if len(parts) >= 4 and parts[:2] == ["api", "models"]:
            return self._api_repo(method, f"{parts[2]}/{parts[3]}", parts[4:], query, body, user)
        if len(parts) >= 3 and parts[0] == "lfs-upload" and method == "PUT":
            return self._lfs_put(parts[1], body)
        if len(parts) == 6 and parts[1].endswith(".git") and parts[2:] == ["info", "lfs", "objects", "batch"]:
            return self._lfs_batch(f"{parts[0]}/{parts[1][:-4]}", user, json.loads(body))
        if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve_file(method, f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), user, fault)
        raise _HubError(404, f"no route for {method} /{'/'.join(parts)}")

    def _create_repo(self, user: str | None, data: dict) -> None:
        hub = self.hub
        if user is None:
            raise _HubError(401, "You must be authenticated to create a repo")
        namespace = data.get("organization") or user
        if namespace not in hub._namespaces(user):
            raise _HubError(403, f"You don't have the rights to create a repo under {namespace}")
        repo_id = f"{namespace}/{data['name']}"
        url = f"{hub.endpoint}/{repo_id}"
        with hub._lock:
            if repo_id in hub.repos:
                message = "You already created this model repo"
                raise _HubError(409, message, body={"error": message, "url": url})
            repo = _Repo(repo_id, private=data.get("visibility") == "private" or bool(data.get("private")))
            repo.branches["main"] = hub._new_commit(repo, {}, "initial commit", "", None)
            hub.repos[repo_id] = repo
        self._json(200, {"url": url, "name": repo_id})

    # -- /api/models/{repo}/... ----------------------------------------------------------------------
    def _api_repo(self, method: str, repo_id: str, rest: list[str], query: dict, body: bytes, user: str | None) -> None:
        hub = self.hub
        with hub._lock:
            repo = hub._repo(repo_id, user, write=method in ("POST", "DELETE") and rest[:1] != ["paths-info"])
        if method == "GET" and (not rest or rest[0] == "revision"):
            rev = rest[1] if len(rest) > 1 else "main"
            return self._json(200, self._info(repo, hub._resolve(repo, rev)))
        if method == "GET" and rest[:1] == ["tree"]:
            return self._tree(repo, rest[1], "/".join(rest[2:]), query)
        if method == "GET" and rest[:1] == ["refs"]:
            return self._json(200, self._refs(repo, "include_prs" in query))
        if method == "POST" and rest[:1] == ["preupload"]:
            commit = repo.commits[hub._resolve(repo, rest[1])]
            answer = []
            for item in json.loads(body)["files"]:
                existing = commit.files.get(item["path"])
                entry = {
                    "path": item["path"],
                    "uploadMode": "lfs" if item["size"] >= LFS_THRESHOLD or item["path"].endswith(LFS_SUFFIXES) else "regular",
                    "shouldIgnore": False,
                }
                if existing is not None:
                    entry["oid"] = existing.git_oid
                answer.append(entry)
            return self._json(200, {"files": answer})
        if method == "POST" and rest[:1] == ["commit"]:
            return self._commit(repo, rest[1], "create_pr" in query, body)
        if rest[:1] == ["branch"] and len(rest) == 2:
            with hub._lock:
                if method == "POST":
                    if rest[1] in repo.branches:
                        raise _HubError(409, f"Reference already exists: refs/heads/{rest[1]}")
                    start = json.loads(body or b"{}").get("startingPoint") or "main"
                    repo.branches[rest[1]] = hub._resolve(repo, start)
                else:
                    repo.branches.pop(rest[1], None)
            return self._json(200, {})
        if rest[:1] == ["tag"] and len(rest) == 2:
            with hub._lock:
                if method == "POST":
                    tag = json.loads(body)["tag"]
                    if tag in repo.tags:
                        raise _HubError(409, f"Reference already exists: refs/tags/{tag}")
                    repo.tags[tag] = hub._resolve(repo, rest[1])
                else:
                    repo.tags.pop(rest[1], None)
            return self._json(200, {})
        if method == "GET" and rest[:1] == ["commits"]:
            oid = hub._resolve(repo, rest[1])
            history = []
            while oid is not None:
                c = repo.commits[oid]
                history.append(
                    {"id": c.oid, "authors": [{"user": "tester"}], "date": _iso(c.date), "title": c.title, "message": c.description}
                )
                oid = c.parent
            return self._json(200, history)
        raise _HubError(404, f"no route for {method} api/models/{repo_id}/{'/'.join(rest)}")

    def _info(self, repo: _Repo, oid: str) -> dict:
        commit = repo.commits[oid]
        siblings = []
        for path, f in sorted(commit.files.items()):
            sib: dict[str, Any] = {"rfilename": path, "size": f.size, "blobId": f.git_oid}
            if f.lfs:
                sib["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": 134}
            siblings.append(sib)
        return {
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "sha": oid,
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "siblings": siblings,
            "tags": [],
            "lastModified": _iso(commit.date),
            "downloads": 0,
            "likes": 0,
        }

    def _refs(self, repo: _Repo, include_prs: bool) -> dict:
        refs: dict[str, Any] = {
            "branches": [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": c} for n, c in repo.branches.items()],
            "converts": [],
            "tags": [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": c} for n, c in repo.tags.items()],
        }
        if include_prs:
            refs["pullRequests"] = [{"name": str(n), "ref": f"refs/pr/{n}", "targetCommit": c} for n, c in repo.prs.items()]
        return refs

    def _tree(self, repo: _Repo, rev: str, prefix: str, query: dict) -> None:
        hub = self.hub
        commit = repo.commits[hub._resolve(repo, rev)]
        recursive = (query.get("recursive") or ["false"])[0].lower() in ("true", "1")  # 0.x sends "True", 1.x "true"
        base = f"{prefix}/" if prefix else ""
        entries: dict[str, dict] = {}
        for path, f in sorted(commit.files.items()):
            if not path.startswith(base):
                continue
            rest = path[len(base) :]
            parts = rest.split("/")
            for depth in range(1, len(parts)):
                folder = base + "/".join(parts[:depth])
                if recursive or depth == 1:
                    entries.setdefault(folder, {"type": "directory", "path": folder, "oid": hashlib.sha1(folder.encode()).hexdigest()})
                if not recursive:
                    break
            if recursive or len(parts) == 1:
                entry = {"type": "file", "path": path, "size": f.size, "oid": f.git_oid}
                if f.lfs:
                    entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
                entries[path] = entry
        if prefix and not entries:
            raise _HubError(404, f"{prefix} does not exist", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        listing = list(entries.values())
        start = int((query.get("cursor") or ["0"])[0])
        page = listing[start : start + hub.page_size]
        headers = {}
        if start + hub.page_size < len(listing):
            split = urlsplit(self.path)
            rest = "&".join(f"{k}={v[0]}" for k, v in query.items() if k != "cursor")
            headers["Link"] = f'<{hub.endpoint}{split.path}?{rest}&cursor={start + hub.page_size}>; rel="next"'
        self._json(200, page, headers)

    def _commit(self, repo: _Repo, rev: str, create_pr: bool, body: bytes) -> None:
        hub = self.hub
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise _HubError(400, "the commit payload must start with a header")
        header = lines[0]["value"]
        with hub._lock:
            head = hub._resolve(repo, rev)
            parent = header.get("parentCommit")
            if parent and parent != head:
                raise _HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(repo.commits[head].files)
            for line in lines[1:]:
                value = line["value"]
                if line["key"] == "file":
                    data = base64.b64decode(value["content"])
                    sha = hub._store_blob(data)
                    files[value["path"]] = _File(sha, len(data), False, git_blob_sha1(data))
                elif line["key"] == "lfsFile":
                    blob = hub.root / "blobs" / value["oid"]
                    if not blob.exists():
                        raise _HubError(422, f"LFS object {value['oid']} was never uploaded")
                    files[value["path"]] = _File(value["oid"], blob.stat().st_size, True, value["oid"])
                elif line["key"] == "deletedFile":
                    if value["path"] not in files:
                        raise _HubError(404, f"{value['path']} does not exist", "EntryNotFound", {"X-Repo-Commit": head})
                    del files[value["path"]]
                elif line["key"] == "deletedFolder":
                    folder = value["path"].rstrip("/") + "/"
                    files = {p: f for p, f in files.items() if not p.startswith(folder)}
                else:
                    raise _HubError(400, f"unknown commit operation {line['key']!r}")
            oid = hub._new_commit(repo, files, header.get("summary", ""), header.get("description", ""), head)
            answer = {"commitUrl": f"{hub.endpoint}/{repo.repo_id}/commit/{oid}", "commitOid": oid}
            if create_pr:
                number = max(repo.prs, default=0) + 1
                repo.prs[number] = oid
                answer["pullRequestUrl"] = f"{hub.endpoint}/{repo.repo_id}/discussions/{number}"
            elif rev.startswith("refs/pr/"):
                repo.prs[int(rev[8:])] = oid
            else:
                branch = rev[11:] if rev.startswith("refs/heads/") else rev
                if branch not in repo.branches:
                    raise _HubError(400, f"cannot commit to {rev}: not a branch")
                repo.branches[branch] = oid
        self._json(200, answer)

    # -- LFS --------------------------------------------------------------------------------------
    def _lfs_batch(self, repo_id: str, user: str | None, data: dict) -> None:
        hub = self.hub
        hub._repo(repo_id, user, write=True)
        objects = []
        for obj in data.get("objects", []):
            if (hub.root / "blobs" / obj["oid"]).exists():
                objects.append({"oid": obj["oid"], "size": obj["size"]})
                continue
            token = secrets.token_urlsafe(16)
            with hub._lock:
                hub._uploads[token] = (obj["oid"], obj["size"])
            objects.append(
                {"oid": obj["oid"], "size": obj["size"], "actions": {"upload": {"href": f"{hub.endpoint}/lfs-upload/{token}/{obj['oid']}"}}}
            )
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(), content_type="application/vnd.git-lfs+json")

    def _lfs_put(self, token: str, body: bytes) -> None:
        hub = self.hub
        with hub._lock:
            expected = hub._uploads.pop(token, None)
        if expected is None:
            raise _HubError(403, "unknown or used upload URL")
        oid, size = expected
        if len(body) != size or hashlib.sha256(body).hexdigest() != oid:
            raise _HubError(400, "the uploaded bytes do not match the announced oid and size")
        hub._store_blob(body)
        self._send(200)

    # -- downloads ----------------------------------------------------------------------------------
    def _resolve_file(self, method: str, repo_id: str, rev: str, path: str, user: str | None, fault: Fault | None) -> None:
        hub = self.hub
        with hub._lock:
            repo = hub._repo(repo_id, user)
            oid = hub._resolve(repo, rev)
            entry = repo.commits[oid].files.get(path)
        if entry is None:
            raise _HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": oid})
        data = (hub.root / "blobs" / entry.sha256).read_bytes()
        headers = {"X-Repo-Commit": oid, "ETag": f'"{entry.git_oid}"', "Accept-Ranges": "bytes"}
        if entry.lfs:
            headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)})
        status, start = 200, 0
        rng = self.headers.get("range")
        if rng and rng.startswith("bytes=") and method == "GET":
            first, _, last = rng[6:].partition("-")
            start = int(first or 0)
            end = int(last) if last else len(data) - 1
            data = data[start : end + 1]
            status = 206
            headers["Content-Range"] = f"bytes {start}-{start + len(data) - 1}/{entry.size}"
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.stall_seconds)
        if fault is not None and fault.kind == "no_headers":
            for name in ("ETag", "X-Linked-Etag", "X-Repo-Commit"):
                headers.pop(name, None)
        if fault is not None and fault.kind == "wrong_size":
            announced = str(entry.size + 1)  # one byte more than will ever come
            headers["X-Linked-Size" if entry.lfs else "Content-Length"] = announced
        if method == "HEAD":
            headers.setdefault("Content-Length", str(entry.size))
            if fault is None or fault.kind != "wrong_size" or entry.lfs:
                headers["Content-Length"] = str(entry.size)
            return self._send(200, b"", headers, head=True, content_type="application/octet-stream")
        if fault is not None and fault.kind in ("drop", "stall"):
            headers["Content-Length"] = str(len(data))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data[: fault.after_bytes])
            self.wfile.flush()
            if fault.kind == "stall":
                time.sleep(fault.stall_seconds)
            self._status = status
            self.close_connection = True
            return
        if fault is not None and fault.kind == "wrong_bytes" and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        self._send(status, data, headers, content_type="application/octet-stream")


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


def url_for(hub: LocalHub, repo_id: str, revision: str, path: str) -> str:
    """The resolve URL the client builds for a file (revision quoted with no safe characters)."""
    return f"{hub.endpoint}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(path)}"


TEST_TOKEN = "hf_modelport_test"  # user "tester", member of org "modelport-test"
OTHER_TEST_TOKEN = "hf_other_user"  # user "someone-else"
_TEST_HUB: LocalHub | None = None
_TEST_HF_HOME: str | None = None


def start_test_hub() -> LocalHub:
    """One local Hub per process, with the ``HF_*`` variables of a test session pointing at it.

    Call it before huggingface_hub is first imported (it reads the variables
    then): test suites call it from their ``conftest.py``, and
    :func:`stop_test_hub` when they end. Later calls return the same server.
    """
    global _TEST_HUB, _TEST_HF_HOME
    if _TEST_HUB is None:
        _TEST_HUB = LocalHub(tokens={TEST_TOKEN: "tester", OTHER_TEST_TOKEN: "someone-else"}, orgs={"tester": ["modelport-test"]}).start()
        _TEST_HF_HOME = tempfile.mkdtemp(prefix="modelport-test-hf-home-")
        os.environ.update(
            HF_ENDPOINT=_TEST_HUB.endpoint,
            HF_TOKEN=TEST_TOKEN,
            HF_HOME=_TEST_HF_HOME,
            HF_HUB_DISABLE_XET="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HUB_DOWNLOAD_TIMEOUT="3",  # stalled-body tests wait this long per try
        )
        os.environ.pop("HF_HUB_OFFLINE", None)
    return _TEST_HUB


def stop_test_hub() -> None:
    """Stop the server of :func:`start_test_hub` and delete its storage and the ``HF_HOME`` it made."""
    global _TEST_HUB, _TEST_HF_HOME
    if _TEST_HUB is not None:
        _TEST_HUB.stop()
        _TEST_HUB = None
    if _TEST_HF_HOME is not None:
        shutil.rmtree(_TEST_HF_HOME, ignore_errors=True)
        _TEST_HF_HOME = None
