"""After one online load, a sharded repository loads offline in every installed framework and through convert,
with zero requests to the Hub (huggingface_hub's cache records what a commit lacks)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys

import numpy as np
import pytest

from modelport import adapters
from modelport.checkpoint import Checkpoint
from modelport.hub import resolve_checkpoint, upload_folder

from _support.golden import GOLDEN

SCRIPT = r"""
import json, sys
import numpy as np
from modelport import AutoConfig, adapters, convert
repo, cache, out, names = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
result = {}
inputs = dict(np.load(sys.argv[5]))
for name in names:
    adapter = adapters.get(name)
    config = AutoConfig.from_pretrained(repo, cache_dir=cache)
    model, info = adapter.model_class(config).from_pretrained(repo, cache_dir=cache, output_loading_info=True)
    outputs = adapter.run_model(model, inputs)
    result[name] = {"report": [info["missing_keys"], info["unexpected_keys"]], "last_hidden_state": outputs["last_hidden_state"].tolist()}
report = convert(repo, out, to=sys.argv[6], cache_dir=cache, progress=False)
result["convert"] = {"converted": len(report.converted), "ok": report.ok, "copied": report.copied}
print(json.dumps(result))
"""


@pytest.mark.trust("G10")
def test_a_sharded_repository_loads_offline_everywhere_with_zero_requests(hub, tmp_path):
    repo = f"modelport-test/offline-{secrets.token_hex(4)}"
    source = GOLDEN / "bert" / "pt-safetensors-sharded"
    shutil.copytree(source, tmp_path / "upload")
    upload_folder(tmp_path / "upload", repo)
    cache = tmp_path / "cache"
    online = resolve_checkpoint(repo, cache_dir=cache)  # the one online load
    assert online.index_file is not None and len(online.weights) >= 2
    hub.clear_log()
    names = [n for n in ("torch", "tf", "flax") if n in adapters.available() and adapters.get(n).framework_available()]
    shutil.copy(GOLDEN / "bert" / "inputs.npz", tmp_path / "inputs.npz")
    target = "tf" if "tf" in names else "pt"  # the core session has no framework: PyTorch names need none
    argv = [sys.executable, "-c", SCRIPT, repo, str(cache), str(tmp_path / "converted"), json.dumps(names),
            str(tmp_path / "inputs.npz"), target]
    done = subprocess.run(argv, env={**os.environ, "HF_HUB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    want = np.load(GOLDEN / "bert" / "outputs-pt.npz")["masked/last_hidden_state"]
    for name in names:
        assert result[name]["report"] == [[], []], (name, result[name]["report"])
        got = np.asarray(result[name]["last_hidden_state"])
        assert float(abs(got - want).max()) <= 1e-5, name  # transformers' PyTorch outputs, tolerance 1e-5
    assert result["convert"]["ok"] and result["convert"]["converted"] == len(list(Checkpoint.open(source)))
    assert "config.json" in result["convert"]["copied"]  # from the cached snapshot: the file list needs the Hub
    assert hub.log == []  # not one request reached the server
