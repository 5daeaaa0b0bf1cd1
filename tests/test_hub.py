"""Hub transfer through the real huggingface_hub client against the local Hub server."""

from __future__ import annotations

import importlib.metadata
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelport import BertConfig
from modelport.checkpoint import Checkpoint
from modelport.cli import main
from modelport.errors import (
    CheckpointNotFoundError,
    HubAuthError,
    HubError,
    HubFileNotFoundError,
    HubRepoNotFoundError,
    HubRevisionNotFoundError,
)
from modelport.hub import download_file, resolve_checkpoint, upload_folder
from modelport.saving import save_checkpoint
from modelport_conformance.hub import OTHER_TEST_TOKEN as OTHER_TOKEN
from modelport_conformance.hub import Fault

MB = 1024 * 1024


def new_repo() -> str:
    return f"modelport-test/repo-{secrets.token_hex(4)}"


def make_checkpoint(folder: Path, shard: str, seed: int = 0) -> dict[str, bytes]:
    """A checkpoint with one tensor over 10 MB (the LFS path) and enough small ones for 3+ shards."""
    rng = np.random.default_rng(seed)
    tensors = [("big.weight", rng.standard_normal(int(10.5 * MB) // 4).astype(np.float32))]
    tensors += [(f"small.{i}.weight", rng.standard_normal(int(0.9 * MB) // 4).astype(np.float32)) for i in range(6)]
    save_checkpoint(folder, tensors, max_shard_size=shard)
    BertConfig(hidden_size=8, num_hidden_layers=1).save_pretrained(folder)
    (folder / "tokenizer.json").write_text("{}")
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_sharded_push_is_one_commit_and_downloads_byte_identical(hub, tmp_path):
    repo = new_repo()
    local = make_checkpoint(tmp_path / "v1", "2MB")
    shards = sorted(n for n in local if n.startswith("model-0"))
    assert len(shards) >= 3 and max(len(local[n]) for n in shards) > 10 * 1000 * 1000
    info = upload_folder(tmp_path / "v1", repo, commit_message="First upload", private=True)
    assert len(hub.requests("POST", "/commit/")) == 1
    assert hub.requests("PUT", "/lfs-upload/"), "the big shard must take the LFS path"
    assert hub.repos[repo].private and hub.repos[repo].commits[info.oid].title == "First upload"
    remote = hub.files(repo)
    assert {n: remote[n] for n in local} == local
    card = remote["README.md"].decode()
    assert "library_name: modelport" in card

    # the resolver brings back the same bytes, from one pinned commit
    resolved = resolve_checkpoint(repo, cache_dir=tmp_path / "cache")
    assert resolved.commit == info.oid and resolved.index_file is not None
    assert {p.name: p.read_bytes() for p in resolved.weights} == {n: local[n] for n in shards}
    ckpt = Checkpoint.open(resolved.folder)
    assert ckpt.info("big.weight").shape == (int(10.5 * MB) // 4,)

    # and so does the command line, into a folder
    assert main(["download", repo, "--local-dir", str(tmp_path / "dl")]) == 0
    got = {p.name: p.read_bytes() for p in (tmp_path / "dl").iterdir() if p.is_file()}
    assert {n: got[n] for n in [*shards, "config.json", "model.safetensors.index.json"]} == {
        n: local[n] for n in [*shards, "config.json", "model.safetensors.index.json"]}
    assert "tokenizer.json" not in got  # only what the framework needs

    # a second push with other sharding leaves only the new shard set
    new_local = make_checkpoint(tmp_path / "v2", "4MB", seed=1)
    upload_folder(tmp_path / "v2", repo, commit_message="Reshard")
    remote = hub.files(repo)
    weights = sorted(n for n in remote if n.startswith("model"))
    assert weights == sorted(n for n in new_local if n.startswith("model"))
    assert all(remote[n] == new_local[n] for n in weights)
    assert len(hub.requests("POST", "/commit/")) == 2


def test_create_pr_branches_and_tags(hub, tmp_path):
    from huggingface_hub import HfApi

    repo = new_repo()
    make_checkpoint(tmp_path / "v1", "100MB")
    first = upload_folder(tmp_path / "v1", repo)
    main_before = hub.repos[repo].branches["main"]
    make_checkpoint(tmp_path / "v2", "100MB", seed=2)
    pr = upload_folder(tmp_path / "v2", repo, create_pr=True, commit_message="Proposal")
    assert pr.pr_revision == "refs/pr/1" and pr.pr_num == 1
    assert hub.repos[repo].branches["main"] == main_before == first.oid
    from_pr = resolve_checkpoint(repo, revision="refs/pr/1", cache_dir=tmp_path / "cache")
    assert from_pr.weights[0].read_bytes() == (tmp_path / "v2" / "model.safetensors").read_bytes()
    from_main = resolve_checkpoint(repo, cache_dir=tmp_path / "cache")
    assert from_main.weights[0].read_bytes() == (tmp_path / "v1" / "model.safetensors").read_bytes()

    api = HfApi()
    api.create_tag(repo, tag="v1.0", revision=first.oid)
    upload_folder(tmp_path / "v2", repo, revision="dev")  # the branch is created
    assert "dev" in hub.repos[repo].branches
    by_tag = resolve_checkpoint(repo, revision="v1.0", cache_dir=tmp_path / "cache")
    by_branch = resolve_checkpoint(repo, revision="dev", cache_dir=tmp_path / "cache")
    assert by_tag.commit == first.oid and by_branch.commit == hub.repos[repo].branches["dev"]
    assert by_branch.weights[0].read_bytes() == (tmp_path / "v2" / "model.safetensors").read_bytes()


OFFLINE_SCRIPT = r"""
import json, logging, sys
from modelport.hub import resolve_checkpoint
from modelport.errors import HubOfflineError
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
out = {}
for framework, options in (("pt", {}), ("flax", {}), ("tf", {"use_safetensors": False})):
    try:
        r = resolve_checkpoint(sys.argv[1], cache_dir=sys.argv[2], framework=framework, **options)
        out[framework] = {"weights": [p.name for p in r.weights], "commit": r.commit}
    except HubOfflineError as e:
        out[framework] = str(e)
print(json.dumps(out))
"""


@pytest.mark.trust("G10")
@pytest.mark.parametrize("sharded", [False, True], ids=["single", "sharded"])
def test_offline_after_one_download_makes_zero_requests(hub, tmp_path, sharded):
    """Offline, the cache's own records decide: what a commit lacks (huggingface_hub's ``.no_exist``) is skipped,
    what was never asked is skipped with a warning naming it, and only when nothing usable is cached is it an error."""
    repo = new_repo()
    make_checkpoint(tmp_path / "v1", "2MB" if sharded else "100MB")
    (tmp_path / "v1" / "flax_model.msgpack").write_bytes(b"\x80")  # present remotely, never cached
    (tmp_path / "v1" / "tf_model.h5").write_bytes(b"\x89HDF")  # likewise
    upload_folder(tmp_path / "v1", repo)
    first = resolve_checkpoint(repo, cache_dir=tmp_path / "cache")  # online, once
    assert (first.index_file is not None) == sharded
    hub.clear_log()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", OFFLINE_SCRIPT, repo, str(tmp_path / "cache")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    weights = [p.name for p in first.weights]
    assert out["pt"] == {"weights": weights, "commit": first.commit}
    assert out["flax"] == {"weights": weights, "commit": first.commit}  # the cached safetensors of the same commit
    assert "flax_model.msgpack and flax_model.msgpack.index.json are not in the local cache; using the cached" in done.stderr
    assert "model.safetensors is not" not in done.stderr  # its absence at the commit is recorded: no warning
    assert "no weights a tf model reads are in the local cache" in out["tf"] and "not cached: tf_model.h5" in out["tf"]
    assert repo in out["tf"]
    assert hub.log == []  # not one request reached the server


def test_only_the_files_a_framework_needs_are_requested(hub, tmp_path):
    repo = new_repo()
    make_checkpoint(tmp_path / "v1", "100MB")
    for name in ("tf_model.h5", "flax_model.msgpack", "pytorch_model.bin"):
        (tmp_path / "v1" / name).write_bytes(os.urandom(1000))
    upload_folder(tmp_path / "v1", repo)
    hub.clear_log()
    resolve_checkpoint(repo, framework="pt", cache_dir=tmp_path / "cache")
    requested = {r["path"].rsplit("/", 1)[-1] for r in hub.requests(contains="/resolve/")}
    assert requested == {"config.json", "model.safetensors"}
    hub.clear_log()
    resolve_checkpoint(repo, framework="flax", cache_dir=tmp_path / "cache2")
    assert {r["path"].rsplit("/", 1)[-1] for r in hub.requests(contains="/resolve/")} == {"config.json", "flax_model.msgpack"}
    hub.clear_log()
    resolve_checkpoint(repo, framework="tf", use_safetensors=False, cache_dir=tmp_path / "cache3")
    assert {r["path"].rsplit("/", 1)[-1] for r in hub.requests(contains="/resolve/")} == {"config.json", "tf_model.h5"}


@pytest.mark.trust("G1")
def test_errors_users_can_act_on(hub, tmp_path):
    repo = new_repo()
    make_checkpoint(tmp_path / "v1", "100MB")
    upload_folder(tmp_path / "v1", repo, private=True)
    with pytest.raises(HubAuthError, match="refused the credentials") as info:
        resolve_checkpoint(repo, token="hf_not_a_token", cache_dir=tmp_path / "c1")
    assert info.value.__cause__ is not None
    with pytest.raises(HubRepoNotFoundError, match="does not exist, or is private"):
        resolve_checkpoint("modelport-test/no-such-repo", cache_dir=tmp_path / "c2")
    with pytest.raises(HubRevisionNotFoundError, match="revision does not exist"):
        resolve_checkpoint(repo, revision="no-such-branch", cache_dir=tmp_path / "c3")
    with pytest.raises(HubRepoNotFoundError):  # private, and no token sent
        resolve_checkpoint(repo, token=False, cache_dir=tmp_path / "c4")
    with pytest.raises(HubRepoNotFoundError):  # private, and another user's token
        resolve_checkpoint(repo, token=OTHER_TOKEN, cache_dir=tmp_path / "c5")
    with pytest.raises(HubFileNotFoundError, match="not in the repository"):
        download_file(repo, "nothing-here.json", cache_dir=tmp_path / "c6")
    with pytest.raises(HubFileNotFoundError, match="no weights a flax model reads"):
        resolve_checkpoint(repo, framework="flax", use_safetensors=False, cache_dir=tmp_path / "c7")
    hub.set_gated(repo)
    hub.repos[repo].private = False
    with pytest.raises(HubAuthError, match="gated"):
        resolve_checkpoint(repo, token=False, cache_dir=tmp_path / "c8")


def _cache_files(cache: Path) -> list[str]:
    """Files of the cache, without lock files and, for huggingface_hub 0.x, its ``.incomplete`` partial downloads:
    0.x keeps those to resume from (never served as cached: a resumed file is hashed again before use), 1.x removes
    them."""
    partial_kept = int(importlib.metadata.version("huggingface_hub").split(".")[0]) < 1
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*")
                  if p.is_file() and ".locks" not in p.parts and not (partial_kept and p.name.endswith(".incomplete")))


@pytest.mark.trust("G3")
def test_dropped_connection_retries_to_identical_bytes(hub, tmp_path):
    repo = new_repo()
    make_checkpoint(tmp_path / "v1", "100MB")
    upload_folder(tmp_path / "v1", repo)
    hub.add_fault(Fault("GET", "/model.safetensors", "drop", after_bytes=3 * MB))
    resolved = resolve_checkpoint(repo, cache_dir=tmp_path / "cache")
    assert resolved.weights[0].read_bytes() == (tmp_path / "v1" / "model.safetensors").read_bytes()
    ranged = [r for r in hub.requests("GET", "/model.safetensors")]
    assert len(ranged) == 2  # the dropped one, then a resumed (Range) request


@pytest.mark.trust("G3")
def test_connection_that_keeps_dropping_fails_clearly_and_caches_nothing(hub, tmp_path):
    repo = new_repo()
    make_checkpoint(tmp_path / "v1", "100MB")
    upload_folder(tmp_path / "v1", repo)
    hub.add_fault(Fault("GET", "/model.safetensors", "drop", times=100, after_bytes=1000))
    cache = tmp_path / "cache"
    with pytest.raises(HubError) as info:
        resolve_checkpoint(repo, cache_dir=cache)
    assert repo in str(info.value) and "model.safetensors" in str(info.value)
    leftovers = [f for f in _cache_files(cache) if "model.safetensors" in f or f.endswith(".incomplete")]
    blobs = [f for f in _cache_files(cache) if "/blobs/" in f]
    assert not leftovers and all(Path(cache, b).stat().st_size < 2000 for b in blobs)  # only config.json's blob


@pytest.mark.trust("G6")
def test_wrong_bytes_of_the_right_size_are_caught_and_removed(hub, tmp_path):
    repo = new_repo()
    make_checkpoint(tmp_path / "v1", "100MB")
    upload_folder(tmp_path / "v1", repo)
    hub.add_fault(Fault("GET", "/model.safetensors", "wrong_bytes", times=2))  # the download and its one retry
    cache = tmp_path / "cache"
    with pytest.raises(HubError, match="do not match the file's sha256"):
        resolve_checkpoint(repo, cache_dir=cache)
    assert not [f for f in _cache_files(cache) if f.endswith("model.safetensors")]
    resolved = resolve_checkpoint(repo, cache_dir=cache)  # the next try downloads it again, correctly
    assert resolved.weights[0].read_bytes() == (tmp_path / "v1" / "model.safetensors").read_bytes()


def test_config_from_the_hub_and_push_to_hub(hub, tmp_path):
    repo = new_repo()
    config = BertConfig(hidden_size=48, num_labels=3)
    info = config.push_to_hub(repo, private=True)
    assert hub.repos[repo].commits[info.oid].title == "Upload config"
    assert json.loads(hub.files(repo)["config.json"]) == json.loads(config.to_json_string())
    loaded = BertConfig.from_pretrained(repo, cache_dir=tmp_path / "cache")
    assert loaded == config
    info = loaded.save_pretrained(tmp_path / repo.split("/")[1], push_to_hub=True, repo_id=repo, commit_message="again",
                                  tags=["demo"])
    assert hub.repos[repo].commits[info.oid].title == "again"
    with pytest.raises(CheckpointNotFoundError):
        BertConfig.from_pretrained(tmp_path / "no" / "such" / "folder")


def test_tree_pagination_is_followed(hub, tmp_path):
    from huggingface_hub import HfApi

    repo = new_repo()
    make_checkpoint(tmp_path / "v1", "2MB")
    upload_folder(tmp_path / "v1", repo)
    hub.page_size = 2
    files = HfApi().list_repo_files(repo)
    assert len(hub.requests("GET", "/tree/")) >= 3 and "model.safetensors.index.json" in files and len(files) >= 7


def test_cli_upload(hub, tmp_path, capsys):
    repo = new_repo()
    make_checkpoint(tmp_path / "v1", "100MB")
    assert main(["upload", str(tmp_path / "v1"), repo, "--message", "From the CLI", "--private"]) == 0
    assert hub.repos[repo].private and "From the CLI" in [c.title for c in hub.repos[repo].commits.values()]
    assert repo in capsys.readouterr().out
    assert main(["upload", str(tmp_path / "v1"), repo, "--create-pr"]) == 0  # identical content: no commit, no PR
    assert main(["download", "modelport-test/missing", "--local-dir", str(tmp_path / "x")]) == 2


@pytest.mark.trust("G2")
def test_server_errors_are_retried(hub, tmp_path):
    repo = new_repo()
    make_checkpoint(tmp_path / "v1", "100MB")
    upload_folder(tmp_path / "v1", repo)
    hub.add_fault(Fault("GET", "/model.safetensors", "status", status=503, retry_after=1))
    resolved = resolve_checkpoint(repo, cache_dir=tmp_path / "cache")
    assert resolved.weights[0].read_bytes() == (tmp_path / "v1" / "model.safetensors").read_bytes()
    assert [r["status"] for r in hub.requests("GET", "/model.safetensors")] == [503, 200]


@pytest.mark.trust("G5")
def test_a_wrong_announced_size_fails_and_caches_nothing(hub, tmp_path):
    repo = new_repo()
    make_checkpoint(tmp_path / "v1", "100MB")
    upload_folder(tmp_path / "v1", repo)
    hub.add_fault(Fault("HEAD", "/model.safetensors", "wrong_size", times=10))
    cache = tmp_path / "cache"
    with pytest.raises(HubError, match="model.safetensors"):
        resolve_checkpoint(repo, cache_dir=cache)
    assert not [f for f in _cache_files(cache) if f.endswith("model.safetensors") or f.endswith(".incomplete")]
