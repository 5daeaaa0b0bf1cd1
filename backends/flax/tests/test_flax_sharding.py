"""Flax params sharded over a 2 x 4 mesh of CPU devices, in one process and in two (``jax.distributed``).

JAX fixes its device count when it starts, so the loads run in children (``_sharded_worker.py``) with
``--xla_force_host_platform_device_count``. Outputs are compared with the same model loaded whole (1e-5); the
read trace is checked on index checkpoints, copies of the golden ones whose every value is its own element id,
so the bytes a process read say by themselves which elements they were.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from flax import serialization

from _support import sharded
from _support.sharded import Ids

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "data"
WORKER = Path(__file__).with_name("_sharded_worker.py")
INPUT_IDS = [[1, 5, 7, 3, 2, 9, 11, 4], [8, 2, 6, 1, 0, 3, 5, 7]]
TOLERANCE = 1e-5

OUTPUT_CASES = [
    ("gpt2", "pt-safetensors-sharded"), ("gpt2", "tf-h5"), ("gpt2", "flax-msgpack"),
    ("llama-family/llama", "pt-safetensors-sharded"), ("llama-family/llama", "flax-msgpack"),
    ("llama-family/qwen2", "pt-safetensors-sharded"), ("llama-family/gemma", "flax-msgpack-sharded"),
]
TRACE_CASES = [("gpt2", "pt-safetensors-sharded"), ("gpt2", "tf-h5"), ("llama-family/llama", "flax-msgpack"),
               ("llama-family/mistral", "pt-safetensors-sharded")]
SAVE_CASES = [("gpt2", "pt-safetensors-sharded"), ("llama-family/llama", "flax-msgpack")]
STYLES = ["tp", "fsdp"]
pytestmark = pytest.mark.slow


# -- index checkpoints (tests/_support/sharded.py; msgpack written with Flax's own serializer) ----------------------------
def _index_msgpack(path: Path, ids: Ids) -> None:
    tree = serialization.msgpack_restore(path.read_bytes())

    def fill(node):
        return {k: fill(v) for k, v in node.items()} if isinstance(node, dict) else ids.take(np.shape(node))

    path.write_bytes(serialization.msgpack_serialize(fill(tree)))


def index_checkpoint(source: Path, target: Path) -> Path:
    return sharded.index_checkpoint(source, target, {".msgpack": _index_msgpack})


# -- the children ---------------------------------------------------------------------------------------------------------
def _tasks(index_root: Path) -> list[dict]:
    tasks = [{"kind": "outputs", "path": str(GOLDEN / arch / folder), "rules": style, "input_ids": INPUT_IDS,
              "case": f"{arch}/{folder}/{style}"} for arch, folder in OUTPUT_CASES for style in STYLES]
    for arch, folder in TRACE_CASES:
        index = index_checkpoint(GOLDEN / arch / folder, index_root / arch.replace("/", "-") / folder)
        tasks += [{"kind": "trace", "path": str(index), "rules": style, "case": f"trace:{arch}/{folder}/{style}"} for style in STYLES]
    for arch, folder in SAVE_CASES:
        tasks += [{"kind": "save", "path": str(GOLDEN / arch / folder), "rules": style, "max_shard_size": "20KB",
                   "case": f"save:{arch}/{folder}/{style}",
                   "target": str(index_root.parent / "saves" / f"{arch}-{folder}-{style}".replace("/", "-"))} for style in STYLES]
    tasks.append({"kind": "outputs", "path": str(GOLDEN / "llama-family/llama/pt-safetensors-sharded"), "rules": "tp",
                  "input_ids": INPUT_IDS, "make_mesh": True, "case": "explicit-mesh"})
    tasks.append({"kind": "error", "path": str(GOLDEN / "llama-family/llama/pt-safetensors"), "rules": "fsdp",
                  "model_class": "FlaxAutoModelForSequenceClassification", "case": "error:init-in-mesh"})
    tasks.append({"kind": "outputs", "path": str(GOLDEN / "llama-family/llama/pt-safetensors-sharded"), "input_ids": INPUT_IDS,
                  "rules": [[r"q_proj/kernel$", [None, "model"]], [r"embed_tokens", ["data", None]]], "case": "user-rules"})
    return tasks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_workers(tmp: Path, tasks: list[dict], processes: int) -> list[subprocess.Popen]:
    (tmp / "tasks.json").write_text(json.dumps(tasks))
    port = _free_port()
    children = []
    for process in range(processes):
        command = [sys.executable, str(WORKER), str(tmp / "tasks.json"), str(tmp / f"out-{process}.json"),
                   "--devices", str(8 // processes)]
        if processes > 1:
            command += ["--process", str(process), "--processes", str(processes), "--port", str(port)]
        children.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return children


def _run_workers(tmp: Path, tasks: list[dict], processes: int) -> list[dict]:
    children = _start_workers(tmp, tasks, processes)
    logs = [child.communicate(timeout=900)[0] for child in children]
    for child, log in zip(children, logs):
        assert child.returncode == 0, log[-4000:]
    return [json.loads((tmp / f"out-{process}.json").read_text()) for process in range(processes)]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("sharded-one")
    (out,) = _run_workers(tmp, _tasks(tmp / "index"), 1)
    return out


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> list[dict]:
    tmp = tmp_path_factory.mktemp("sharded-two")
    tasks = [t for t in _tasks(tmp / "index") if t["case"] in (
        "gpt2/pt-safetensors-sharded/tp", "llama-family/llama/flax-msgpack/fsdp", "trace:gpt2/pt-safetensors-sharded/tp",
        "trace:gpt2/tf-h5/fsdp", "trace:llama-family/mistral/pt-safetensors-sharded/tp", "trace:gpt2/pt-safetensors-sharded/fsdp",
        "trace:llama-family/llama/flax-msgpack/fsdp", "save:llama-family/llama/flax-msgpack/tp", "save:gpt2/pt-safetensors-sharded/fsdp")]
    return _run_workers(tmp, tasks, 2)


# -- the tests ------------------------------------------------------------------------------------------------------------
def test_weights_to_draw_into_a_mesh_are_refused_by_name(one_process):
    result = _tasks_by_case(one_process)["error:init-in-mesh"]
    assert result["error"] == "ConfigError" and "score/kernel" in result["message"] and "_do_init=False" in result["message"]


def test_one_process_sees_eight_devices(one_process):
    assert (one_process["devices"], one_process["local"]) == (8, 8)


@pytest.mark.parametrize("case", [f"{a}/{f}/{s}" for a, f in OUTPUT_CASES for s in STYLES] + ["user-rules", "explicit-mesh"])
def test_sharded_outputs_equal_the_whole_models(one_process, case):
    tasks = _tasks_by_case(one_process)
    assert tasks[case]["max_difference"] <= TOLERANCE


def test_the_default_rules_split_what_they_say(one_process):
    tasks = _tasks_by_case(one_process)
    tp = tasks["llama-family/llama/pt-safetensors-sharded/tp"]["specs"]
    q = next(path for path in tp if path.endswith("layers/0/self_attn/q_proj/kernel"))
    o = next(path for path in tp if path.endswith("layers/0/self_attn/o_proj/kernel"))
    assert tp[q] == [None, "model"] and tp[o] == ["model", None]  # Flax kernels are [in, out]
    assert all(entry is None for entry in tp[next(p for p in tp if p.endswith("norm/weight"))])
    fsdp = tasks["llama-family/llama/pt-safetensors-sharded/fsdp"]["specs"]
    assert fsdp[q] == [None, ["data", "model"]]
    split = [path for path, spec in fsdp.items() if any(e is not None for e in spec)]
    assert len(split) >= len(fsdp) // 2  # every weight whose PyTorch first axis 8 devices divide
    user = tasks["user-rules"]["specs"]
    assert user[q] == [None, "model"] and user[o] == [None, None]
    assert user[next(p for p in user if p.endswith("embed_tokens/embedding"))] == ["data", None]


@pytest.mark.parametrize("case", [f"trace:{a}/{f}/{s}" for a, f in TRACE_CASES for s in STYLES])
def test_one_process_reads_every_element_once_and_nothing_else(one_process, case):
    result = _tasks_by_case(one_process)[case]
    assert result["read"] == result["held"]
    assert result["read_count"] == len(result["read"])  # replicas are read once, not per device


def test_two_processes_each_read_only_what_their_devices_hold(two_processes):
    assert [(o["process"], o["devices"], o["local"]) for o in two_processes] == [(0, 8, 4), (1, 8, 4)]
    checked = 0
    for out in two_processes:
        for task, result in _tasks_by_case(out).items():
            if task.startswith("save:"):
                continue
            if "read" in result:
                assert set(result["read"]) <= set(result["held"]), task
                assert result["read"] == result["held"], task  # and all of it
                checked += 1
            else:
                assert result["max_difference"] <= TOLERANCE, task
    assert checked == 2 * 5


def test_two_processes_split_the_fsdp_bytes_between_them(two_processes):
    first, second = (set(_tasks_by_case(o)["trace:llama-family/llama/flax-msgpack/fsdp"]["read"]) for o in two_processes)
    assert first and second and len(first & second) < len(first) // 2  # mostly disjoint: replicated norms are shared


def _tasks_by_case(out: dict) -> dict[str, dict]:
    return {r["case"]: r for r in out["results"]}


@pytest.mark.parametrize("case", [f"save:{a}/{f}/{s}" for a, f in SAVE_CASES for s in STYLES])
def test_a_save_from_the_mesh_is_byte_for_byte_the_gathered_params_save(one_process, case):
    result = _tasks_by_case(one_process)[case]
    assert result["same_files"]
    assert len([f for f in result["files"] if f.endswith(".safetensors")]) > 1 and "model.safetensors.index.json" in result["files"]


def test_a_save_from_two_processes_is_the_same_checkpoint(two_processes):
    first = _tasks_by_case(two_processes[0])
    for case in ("save:llama-family/llama/flax-msgpack/tp", "save:gpt2/pt-safetensors-sharded/fsdp"):
        assert first[case]["same_files"], case


def test_a_process_killed_during_a_save_leaves_the_previous_checkpoint(tmp_path):
    from modelport_flax import FlaxAutoModelForCausalLM

    target = tmp_path / "target"
    FlaxAutoModelForCausalLM.from_pretrained(GOLDEN / "gpt2/pt-safetensors").save_pretrained(target, max_shard_size="20KB")
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    task = {"kind": "save", "path": str(GOLDEN / "llama-family/llama/pt-safetensors-sharded"), "rules": "fsdp",
            "max_shard_size": "20KB", "case": "killed", "target": str(target), "kill_process": 1}
    first, second = _start_workers(tmp_path, [task], 2)
    second.wait(timeout=600)
    assert second.returncode == -9  # SIGKILL, after its first block
    try:
        first.wait(timeout=3)  # it waits at the save's barrier for a peer that is gone
    except subprocess.TimeoutExpired:
        first.kill()  # as a job scheduler would, once a peer has died
        first.wait()
    assert any(p.name.startswith(".modelport-tmp-") for p in target.iterdir())  # the save had begun
    assert {p.name: p.read_bytes() for p in target.iterdir() if p.name in before} == before
    ids = np.array([[1, 5, 7, 3]])
    reloaded = FlaxAutoModelForCausalLM.from_pretrained(target)(ids).logits
    original = FlaxAutoModelForCausalLM.from_pretrained(GOLDEN / "gpt2/pt-safetensors")(ids).logits
    np.testing.assert_array_equal(np.asarray(reloaded), np.asarray(original))
