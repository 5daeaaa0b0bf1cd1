"""transformers 4.57.6 loads what four torchrun ranks and a 2 x 4 JAX mesh save, with the outputs of the source.

Runs where transformers is installed beside modelport (``nox -s coinstall``); the saves come from the adapters'
sharded-load workers (backends/*/tests/_sharded_worker.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
pytest.importorskip("jax")

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "data"
SOURCES = [("gpt2", "tf-h5"), ("llama-family/llama", "flax-msgpack"), ("llama-family/qwen2", "pt-safetensors-sharded")]
IDS = [[1, 5, 7, 3, 2, 9, 11, 4]]
pytestmark = pytest.mark.slow


def _torch_saves(tmp: Path) -> dict[str, Path]:
    tasks, saves = [], {}
    for arch, folder in SOURCES:
        for layout, mesh, keywords, submesh in (("tp", [2, 2], {"tp_plan": "auto"}, "tp"), ("fsdp", [4], {"fully_shard": True}, None)):
            target = tmp / f"torch-{arch.replace('/', '-')}-{folder}-{layout}"
            tasks.append({"kind": "save", "case": target.name, "path": str(GOLDEN / arch / folder), "mesh": mesh,
                          "keywords": keywords, "submesh": submesh, "target": str(target), "max_shard_size": "20KB"})
            saves[target.name] = target
    (tmp / "torch-tasks.json").write_text(json.dumps(tasks))
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "4",
                          str(ROOT / "backends/torch/tests/_sharded_worker.py"), str(tmp / "torch-tasks.json"), str(tmp / "torch-out")],
                         capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    return saves


def _jax_saves(tmp: Path) -> dict[str, Path]:
    tasks, saves = [], {}
    for arch, folder in SOURCES:
        for style in ("tp", "fsdp"):
            target = tmp / f"jax-{arch.replace('/', '-')}-{folder}-{style}"
            tasks.append({"kind": "save", "case": target.name, "path": str(GOLDEN / arch / folder), "rules": style,
                          "target": str(target), "max_shard_size": "20KB"})
            saves[target.name] = target
    (tmp / "jax-tasks.json").write_text(json.dumps(tasks))
    run = subprocess.run([sys.executable, str(ROOT / "backends/flax/tests/_sharded_worker.py"), str(tmp / "jax-tasks.json"),
                          str(tmp / "jax-out.json"), "--devices", "8"], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    return saves


@pytest.fixture(scope="module")
def saves(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("sharded-saves")
    return {**_torch_saves(tmp), **_jax_saves(tmp)}


def _logits(folder: Path) -> np.ndarray:
    model = transformers.AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        return model(torch.tensor(IDS)).logits.numpy()


@pytest.mark.parametrize("source", SOURCES, ids=["/".join(s) for s in SOURCES])
def test_transformers_loads_every_sharded_save_with_the_sources_outputs(saves, source):
    arch, folder = source
    reference = GOLDEN / arch / "pt-safetensors"  # transformers' own file of the same weights
    expected = _logits(reference)
    mine = [name for name in saves if f"-{arch.replace('/', '-')}-{folder}-" in name]
    assert len(mine) == 4
    for name in mine:
        files = os.listdir(saves[name])
        assert "model.safetensors.index.json" in files and sum(f.endswith(".safetensors") for f in files) > 1
        model, info = transformers.AutoModelForCausalLM.from_pretrained(saves[name], output_loading_info=True)
        assert not info["missing_keys"] and not info["unexpected_keys"], (name, info)
        np.testing.assert_array_equal(_logits(saves[name]), expected, err_msg=name)  # the same weights: the same logits
