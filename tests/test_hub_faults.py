"""The Hub fault matrix: every fault ends in a verified file or a clear error, with nothing bad in the cache.

Each case runs against the local Hub server through the real huggingface_hub
client (HF_HUB_DOWNLOAD_TIMEOUT is 3 s in the test session).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from test_hub import MB, _cache_files, make_checkpoint, new_repo

from modelport.errors import HubError
from modelport.hub import resolve_checkpoint, upload_folder
from modelport_conformance.hub import Fault

# (fault, expect): "ok" means the download recovers and the file is verified; otherwise the error's text
MATRIX = {
    "5xx-burst": ([Fault("GET", "/model.safetensors", "status", times=3, status=502)], "ok"),
    "429-retry-after": ([Fault("GET", "/model.safetensors", "status", status=429, retry_after=1)], "ok"),
    "5xx-forever": ([Fault("GET", "/model.safetensors", "status", times=100, status=503)], "503"),
    "reset-mid-body": ([Fault("GET", "/model.safetensors", "drop", after_bytes=2 * MB)], "ok"),
    "wrong-length": ([Fault("HEAD", "/model.safetensors", "wrong_size", times=10)], "model.safetensors"),
    "wrong-bytes-once": ([Fault("GET", "/model.safetensors", "wrong_bytes")], "ok"),  # removed and fetched again
    "wrong-bytes": ([Fault("GET", "/model.safetensors", "wrong_bytes", times=2)], "do not match the file's sha256"),
    "missing-headers": ([Fault("HEAD", "/model.safetensors", "no_headers", times=10),
                         Fault("GET", "/model.safetensors", "no_headers", times=10)], "model.safetensors"),
    "stalled-once": ([Fault("GET", "/model.safetensors", "stall", after_bytes=MB, stall_seconds=5)], "ok"),
    "stalled-forever": ([Fault("GET", "/model.safetensors", "stall", times=100, after_bytes=MB, stall_seconds=5)],
                        "model.safetensors"),
}


@pytest.mark.trust("G2", "G3", "G5", "G6", "G7", "G10", "G12")
@pytest.mark.parametrize("case", list(MATRIX))
def test_hub_fault_matrix(hub, tmp_path, case):
    faults, expect = MATRIX[case]
    repo = new_repo()
    make_checkpoint(tmp_path / "v1", "100MB")
    upload_folder(tmp_path / "v1", repo)
    original = (tmp_path / "v1" / "model.safetensors").read_bytes()
    for fault in faults:
        hub.add_fault(Fault(fault.method, fault.path_contains, fault.kind, fault.times, fault.status, fault.retry_after,
                            fault.after_bytes, fault.stall_seconds))
    cache = tmp_path / "cache"
    if expect == "ok":
        resolved = resolve_checkpoint(repo, cache_dir=cache)
        data = resolved.weights[0].read_bytes()
        assert data == original and Path(resolved.weights[0]).resolve().name == hashlib.sha256(original).hexdigest()
    else:
        with pytest.raises(HubError) as info:
            resolve_checkpoint(repo, cache_dir=cache)
        assert expect in str(info.value) and repo in str(info.value)
        # nothing promoted: no weights file, no partial download, no blob of the wrong bytes
        assert not [f for f in _cache_files(cache) if f.endswith("model.safetensors") or f.endswith(".incomplete")]
        assert not [f for f in _cache_files(cache) if "/blobs/" in f and Path(cache, f).stat().st_size > 100_000]
        hub.faults.clear()
        assert resolve_checkpoint(repo, cache_dir=cache).weights[0].read_bytes() == original  # and it recovers later


@pytest.mark.trust("G12")
@pytest.mark.parametrize("damage", ["truncated", "flipped", "emptied"])
def test_a_poisoned_cache_is_detected_and_repaired(hub, tmp_path, damage, caplog):
    repo = new_repo()
    make_checkpoint(tmp_path / "v1", "100MB")
    upload_folder(tmp_path / "v1", repo)
    original = (tmp_path / "v1" / "model.safetensors").read_bytes()
    cache = tmp_path / "cache"
    blob = Path(resolve_checkpoint(repo, cache_dir=cache).weights[0]).resolve()
    data = blob.read_bytes()
    blob.write_bytes({"truncated": data[: len(data) // 2], "flipped": bytes([data[0] ^ 1]) + data[1:], "emptied": b""}[damage])
    hub.clear_log()
    resolved = resolve_checkpoint(repo, cache_dir=cache)
    assert resolved.weights[0].read_bytes() == original
    assert "did not match its hash and was removed" in caplog.text
    assert len(hub.requests("GET", "/model.safetensors")) == 1  # fetched again once, not more


_DOWNLOADER = """
import hashlib, sys
from modelport.hub import resolve_checkpoint
resolved = resolve_checkpoint(sys.argv[1], cache_dir=sys.argv[2])
print(hashlib.sha256(resolved.weights[0].read_bytes()).hexdigest())
"""


@pytest.mark.trust("I1")
def test_several_processes_downloading_into_one_cache_end_with_one_intact_copy(hub, tmp_path):
    import subprocess
    import sys

    repo = new_repo()
    make_checkpoint(tmp_path / "v1", "100MB")
    upload_folder(tmp_path / "v1", repo)
    expected = hashlib.sha256((tmp_path / "v1" / "model.safetensors").read_bytes()).hexdigest()
    hub.add_fault(Fault("GET", "/model.safetensors", "delay", times=4, stall_seconds=1.0))  # make them overlap
    cache = tmp_path / "cache"
    workers = [subprocess.Popen([sys.executable, "-c", _DOWNLOADER, repo, str(cache)], stdout=subprocess.PIPE, text=True)
               for _ in range(4)]
    digests = [w.communicate(timeout=300)[0].strip() for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0, 0] and digests == [expected] * 4
    blobs = [p for p in cache.rglob("*") if p.is_file() and p.parent.name == "blobs" and p.stat().st_size > 100_000]
    assert [b.name for b in blobs] == [expected]
    assert not [p for p in cache.rglob("*.incomplete")]
