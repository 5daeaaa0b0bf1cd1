"""DTensor parameters over 4 ``torchrun`` ranks on gloo: tensor parallel, FSDP2, and both on a 2 x 2 mesh.

The loads run in ``_sharded_worker.py`` under ``torchrun --standalone --nproc-per-node 4``. Outputs are compared
with the model loaded whole (1e-5); read traces are checked on index checkpoints (tests/_support/sharded.py),
whose values are their own element ids.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from modelport_torch import AutoModelForCausalLM

from _support.sharded import index_checkpoint

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "data"
WORKER = Path(__file__).with_name("_sharded_worker.py")
INPUT_IDS = [[1, 5, 7, 3, 2, 9, 11, 4], [8, 2, 6, 1, 0, 3, 5, 7]]
TOLERANCE = 1e-5
RANKS = 4

LAYOUTS = {  # the golden Llama has 2 key/value heads: tensor parallelism over 2 ranks, replicated over the other 2
    "tp": ([2, 2], {"tp_plan": "auto"}),
    "fsdp": ([RANKS], {"fully_shard": True}),
    "tp+fsdp": ([2, 2], {"tp_plan": "auto", "fully_shard": True}),
}
OUTPUT_CASES = [("gpt2", "pt-safetensors-sharded"), ("gpt2", "tf-h5"), ("llama-family/llama", "pt-safetensors-sharded"),
                ("llama-family/llama", "flax-msgpack"), ("llama-family/qwen2", "pt-safetensors-sharded")]
SAVE_CASES = [("gpt2", "tf-h5"), ("llama-family/llama", "pt-safetensors-sharded"), ("llama-family/llama", "flax-msgpack")]
SHARD_SIZE = "20KB"  # several files even for these small models
TRACE_CASES = [("gpt2", "pt-safetensors-sharded"), ("gpt2", "tf-h5"), ("llama-family/mistral", "pt-safetensors-sharded")]
pytestmark = pytest.mark.slow


def _tasks(index_root: Path) -> list[dict]:
    tasks = []
    for arch, folder in OUTPUT_CASES:
        for layout, (mesh, keywords) in LAYOUTS.items():
            tasks.append({"kind": "outputs", "case": f"{arch}/{folder}/{layout}", "path": str(GOLDEN / arch / folder),
                          "mesh": mesh, "keywords": keywords, "input_ids": INPUT_IDS, "step": layout != "tp",
                          "submesh": "tp" if layout == "tp" else None})
    tasks.append({"kind": "outputs", "case": "user-plan", "path": str(GOLDEN / "llama-family/llama/pt-safetensors-sharded"),
                  "mesh": [2, 2], "submesh": "tp", "input_ids": INPUT_IDS,
                  "keywords": {"tp_plan": {"layers.*.mlp.up_proj": "colwise", "layers.*.mlp.gate_proj": "colwise",
                                           "layers.*.mlp.down_proj": "rowwise", "lm_head": "colwise_rep"}}})
    for arch, folder in TRACE_CASES:
        index = index_checkpoint(GOLDEN / arch / folder, index_root / arch.replace("/", "-") / folder)
        for layout, (mesh, keywords) in LAYOUTS.items():
            tasks.append({"kind": "trace", "case": f"trace:{arch}/{folder}/{layout}", "path": str(index), "mesh": mesh,
                          "keywords": keywords, "submesh": "tp" if layout == "tp" else None})
    for arch, folder in SAVE_CASES:
        for layout, (mesh, keywords) in LAYOUTS.items():
            case = f"save:{arch}/{folder}/{layout}"
            tasks.append({"kind": "save", "case": case, "path": str(GOLDEN / arch / folder), "mesh": mesh, "keywords": keywords,
                          "submesh": "tp" if layout == "tp" else None, "max_shard_size": SHARD_SIZE,
                          "target": str(index_root.parent / "saves" / case.replace("/", "-").replace(":", "-"))})
    tasks.append({"kind": "outputs", "case": "gpt2-tp4", "path": str(GOLDEN / "gpt2/pt-safetensors-sharded"), "mesh": [RANKS],
                  "keywords": {"tp_plan": "auto"}, "input_ids": INPUT_IDS})
    for layout in ("tp", "tp+fsdp"):
        mesh, keywords = LAYOUTS[layout]
        tasks.append({"kind": "outputs", "case": f"bert/{layout}", "path": str(GOLDEN / "bert/tf-h5"), "mesh": mesh,
                      "keywords": keywords, "input_ids": INPUT_IDS, "model_class": "AutoModel", "output": "last_hidden_state",
                      "submesh": "tp" if layout == "tp" else None, "step": layout != "tp"})
    tasks.append({"kind": "outputs", "case": "fsdp-bfloat16", "path": str(GOLDEN / "llama-family/llama/pt-safetensors-sharded"),
                  "mesh": [RANKS], "keywords": {"fully_shard": True, "dtype": "bfloat16"}, "input_ids": INPUT_IDS,
                  "whole_keywords": {"dtype": "bfloat16"}})
    for layout in ("tp", "fsdp"):  # a sequence classifier: its score head is not in an LM checkpoint
        mesh, keywords = LAYOUTS[layout]
        tasks.append({"kind": "init", "case": f"init/{layout}", "path": str(GOLDEN / "llama-family/llama/pt-safetensors"), "mesh": mesh,
                      "keywords": {**keywords, "num_labels": 64}, "model_class": "AutoModelForSequenceClassification",
                      "weight": "score.weight", "submesh": "tp" if layout == "tp" else None})
    tasks.append({"kind": "error", "case": "bin-save", "path": str(GOLDEN / "gpt2/pt-safetensors"), "mesh": [RANKS],
                  "keywords": {"fully_shard": True}, "save_to": str(index_root.parent / "bin-save")})
    tasks.append({"kind": "error", "case": "llama-tp4", "path": str(GOLDEN / "llama-family/llama/pt-safetensors-sharded"),
                  "mesh": [RANKS], "keywords": {"tp_plan": "auto"}})
    return tasks


def _torchrun(tmp: Path, tasks: list[dict]) -> subprocess.CompletedProcess:
    (tmp / "tasks.json").write_text(json.dumps(tasks))
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(RANKS),
                           str(WORKER), str(tmp / "tasks.json"), str(tmp / "out")],
                          capture_output=True, text=True, timeout=1200, env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict]:
    tmp = tmp_path_factory.mktemp("torch-sharded")
    run = _torchrun(tmp, _tasks(tmp / "index"))
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    out = [json.loads((tmp / f"out-{rank}.json").read_text()) for rank in range(RANKS)]
    for result in out[0]["results"]:
        result["tmp"] = str(tmp)
    return out


def _by_case(out: dict) -> dict[str, dict]:
    return {r["case"]: r for r in out["results"]}


def test_torchrun_started_four_ranks(ranks):
    assert [(o["rank"], o["world"]) for o in ranks] == [(r, RANKS) for r in range(RANKS)]


OTHER_OUTPUT_CASES = ["user-plan", "gpt2-tp4", "bert/tp", "bert/tp+fsdp"]


@pytest.mark.parametrize("case", [f"{a}/{f}/{layout}" for a, f in OUTPUT_CASES for layout in LAYOUTS] + OTHER_OUTPUT_CASES)
def test_sharded_outputs_equal_the_whole_models_on_every_rank(ranks, case):
    for out in ranks:
        result = _by_case(out)[case]
        assert result["max_difference"] <= TOLERANCE, (out["rank"], result["max_difference"])
        if "stepped" in result:
            assert result["stepped"]


def test_the_layouts_are_what_was_asked(ranks):
    results = _by_case(ranks[0])
    tp = results["llama-family/llama/pt-safetensors-sharded/tp"]
    assert tp["type"] == "LlamaForCausalLM"
    assert tp["placements"]["model.layers.0.self_attn.q_proj.weight"] == ["S(0)"]
    assert tp["placements"]["model.layers.0.self_attn.o_proj.weight"] == ["S(1)"]
    assert tp["placements"]["model.embed_tokens.weight"] == ["S(0)"]
    assert "model.norm.weight" not in tp["placements"]  # no rule: whole on every rank
    fsdp = results["llama-family/llama/pt-safetensors-sharded/fsdp"]
    assert fsdp["type"] == "FSDPLlamaForCausalLM"
    assert set(map(tuple, fsdp["placements"].values())) == {("S(0)",)}
    both = results["llama-family/llama/pt-safetensors-sharded/tp+fsdp"]
    assert both["placements"]["model.layers.0.self_attn.o_proj.weight"] == ["S(0)", "S(1)"]
    gpt2 = results["gpt2/pt-safetensors-sharded/tp"]["placements"]
    assert gpt2["transformer.h.0.mlp.c_fc.weight"] == ["S(1)"]  # Conv1D is [in, out]
    assert gpt2["transformer.h.0.mlp.c_proj.weight"] == ["S(0)"]
    assert "transformer.h.0.attn.c_attn.weight" not in gpt2
    bert = results["bert/tp"]["placements"]
    assert bert["encoder.layer.0.attention.self.query.weight"] == ["S(0)"]
    assert bert["encoder.layer.0.attention.output.dense.weight"] == ["S(1)"]
    assert bert["encoder.layer.0.output.dense.weight"] == ["S(1)"] and "pooler.dense.weight" not in bert
    user = results["user-plan"]["placements"]
    assert user["model.layers.1.mlp.down_proj.weight"] == ["S(1)"] and "model.layers.0.self_attn.q_proj.weight" not in user


def test_dtype_casts_each_block_as_a_whole_load_casts_the_tensor(ranks):
    for out in ranks:
        result = _by_case(out)["fsdp-bfloat16"]
        assert result["dtypes"] == ["torch.bfloat16"]
        assert result["max_difference"] == 0.0  # the same casts of the same values: the same bfloat16 model


def test_heads_that_do_not_split_evenly_are_refused_before_loading(ranks):
    for out in ranks:
        result = _by_case(out)["llama-tp4"]
        assert result["error"] == "ConfigError"
        assert "num_key_value_heads = 2" in result["message"] and "4 ranks" in result["message"]


def test_weights_the_checkpoint_lacks_are_initialised_not_left_as_allocated(ranks):
    for out in ranks:
        for layout in ("tp", "fsdp"):
            result = _by_case(out)[f"init/{layout}"]
            assert result["finite"] and abs(result["mean"]) < 0.01 and 0.015 < result["std"] < 0.025  # initializer_range 0.02


def test_a_sharded_model_is_not_saved_as_bin(ranks):
    for out in ranks:
        result = _by_case(out)["bin-save"]
        assert result["error"] == "ConfigError" and "safetensors only" in result["message"]


@pytest.mark.parametrize("case", [f"trace:{a}/{f}/{layout}" for a, f in TRACE_CASES for layout in LAYOUTS])
def test_each_rank_reads_what_its_shards_hold_once_and_nothing_else(ranks, case):
    for out in ranks:
        result = _by_case(out)[case]
        assert set(result["read"]) <= set(result["held"]), out["rank"]
        assert result["read"] == result["held"]
        assert result["read_count"] == len(result["read"])


def test_fsdp_ranks_read_disjoint_quarters(ranks):
    reads = [set(_by_case(o)["trace:llama-family/mistral/pt-safetensors-sharded/fsdp"]["read"]) for o in ranks]
    total = set().union(*reads)
    assert all(len(r) <= len(total) // RANKS + 64 for r in reads)  # a quarter each, give or take uneven dims
    assert sum(len(r) for r in reads) - len(total) <= 64 * RANKS


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("case", [f"save:{a}/{f}/{layout}" for a, f in SAVE_CASES for layout in LAYOUTS])
def test_a_save_from_four_ranks_is_byte_for_byte_the_whole_models_save(ranks, case, tmp_path):
    result = _by_case(ranks[0])[case]
    arch, folder = case.removeprefix("save:").rsplit("/", 1)[0].rsplit("/", 1)
    saved = Path(result["tmp"]) / "saves" / case.replace("/", "-").replace(":", "-")
    AutoModelForCausalLM.from_pretrained(GOLDEN / arch / folder).save_pretrained(tmp_path, max_shard_size=SHARD_SIZE)
    ours, whole = _files(saved), _files(tmp_path)
    assert len([n for n in ours if n.endswith(".safetensors")]) > 1  # sharded, with an index
    assert ours == whole  # every shard, the index and config.json; the whole save is what transformers is checked on


def test_a_rank_killed_during_the_save_leaves_the_previous_checkpoint(tmp_path):
    target = tmp_path / "target"
    AutoModelForCausalLM.from_pretrained(GOLDEN / "gpt2/pt-safetensors").save_pretrained(target, max_shard_size=SHARD_SIZE)
    before = _files(target)
    run = _torchrun(tmp_path, [{"kind": "save", "case": "killed", "path": str(GOLDEN / "llama-family/llama/pt-safetensors-sharded"),
                                "mesh": [RANKS], "keywords": {"fully_shard": True}, "target": str(target),
                                "max_shard_size": SHARD_SIZE, "kill_rank": 1}])
    assert run.returncode != 0 and "SIGKILL" in run.stdout + run.stderr
    leftovers = [name for name in os.listdir(target) if name.startswith(".modelport-tmp-")]
    assert leftovers  # the killed save got as far as writing blocks
    assert {n: b for n, b in _files(target).items() if n in before} == before  # the previous checkpoint, untouched
    ids = torch.tensor([[1, 5, 7, 3]])
    reloaded = AutoModelForCausalLM.from_pretrained(target)(ids).logits
    original = AutoModelForCausalLM.from_pretrained(GOLDEN / "gpt2/pt-safetensors")(ids).logits
    np.testing.assert_array_equal(reloaded.detach().numpy(), original.detach().numpy())
    AutoModelForCausalLM.from_pretrained(GOLDEN / "llama-family/llama/pt-safetensors").save_pretrained(target)
    assert not [name for name in os.listdir(target) if name.startswith(".modelport")]  # the next save cleans up
