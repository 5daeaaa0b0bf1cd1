"""One rank of a sharded PyTorch load, started by test_torch_sharding.py through ``torchrun`` (gloo, CPU).

    torchrun --standalone --nproc-per-node 4 _sharded_worker.py TASKS.json OUT_PREFIX

For each task it loads a checkpoint with the task's keywords (``device_mesh`` built from ``mesh``: its shape, the
last axis named ``tp``, the first ``fsdp``) and writes, per rank, what the test asserts: ``outputs`` tasks the
largest difference between the sharded model's logits and the model loaded whole; ``trace`` tasks (on index
checkpoints) the element ids the rank read and those its shards hold.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))  # the shared helpers: import _support


def main() -> None:
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    tasks, prefix = json.loads(Path(sys.argv[1]).read_text()), sys.argv[2]
    dist.init_process_group("gloo")
    results = []
    for task in tasks:
        shape = tuple(task["mesh"])
        names = ("tp",) if len(shape) == 1 else ("fsdp", "tp")
        mesh = init_device_mesh("cpu", shape, mesh_dim_names=names)
        results.append(run(task, mesh, torch))
    Path(f"{prefix}-{dist.get_rank()}.json").write_text(json.dumps({"rank": dist.get_rank(), "world": dist.get_world_size(),
                                                                    "results": results}))
    dist.destroy_process_group()


def run(task: dict, mesh, torch) -> dict:
    from torch.distributed.tensor import DTensor

    import modelport_torch
    from modelport.distributed import recording_reads

    from _support.sharded import ids_read

    AutoModelForCausalLM = getattr(modelport_torch, task.get("model_class", "AutoModelForCausalLM"))  # noqa: N806

    keywords = {k: v for k, v in task["keywords"].items()}
    mesh = mesh[task["submesh"]] if task.get("submesh") else mesh
    if task["kind"] == "error":
        try:
            model = AutoModelForCausalLM.from_pretrained(task["path"], device_mesh=mesh, **keywords)
            if task.get("save_to"):
                model.save_pretrained(task["save_to"], safe_serialization=False)
        except Exception as error:  # the test asserts its type and message
            return {"case": task["case"], "error": type(error).__name__, "message": str(error)}
        return {"case": task["case"], "error": None}
    with recording_reads() as reads:
        model = AutoModelForCausalLM.from_pretrained(task["path"], device_mesh=mesh, **keywords)
    if task["kind"] == "save":
        return save(task, model, torch)
    if task["kind"] == "init":  # a weight the checkpoint lacks, initialised as a whole load would
        weight = dict(model.named_parameters())[task["weight"]]
        full = (weight.full_tensor() if isinstance(weight, DTensor) else weight).detach()
        return {"case": task["case"], "finite": bool(torch.isfinite(full).all()), "std": float(full.std()),
                "mean": float(full.mean())}
    params = dict(model.named_parameters())
    result = {"case": task["case"], "type": type(model).__name__,
              "placements": {n: [str(p) for p in t.placements] for n, t in params.items() if isinstance(t, DTensor)}}
    if task["kind"] == "outputs":
        ids = torch.tensor(task["input_ids"])
        field = task.get("output", "logits")
        with torch.no_grad():
            sharded = model(ids)[field]
            whole = AutoModelForCausalLM.from_pretrained(task["path"], **task.get("whole_keywords", {}))(ids)[field]
        sharded = sharded.full_tensor() if isinstance(sharded, DTensor) else sharded
        result["max_difference"] = float((sharded.float() - whole.float()).abs().max())
        result["dtypes"] = sorted({str(p.dtype) for p in model.parameters()})
        if task.get("step"):  # FSDP2 and DTensors must take a training step: gradients flow to every shard
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            if field == "logits":
                model(ids, labels=ids).loss.backward()
            else:  # every output, so that every parameter (the pooler's too) takes part
                sum(value.sum() for value in model(ids).values() if isinstance(value, torch.Tensor)).backward()
            optimizer.step()
            result["stepped"] = all(p.grad is not None for p in model.parameters() if p.requires_grad)
    else:
        held: set[int] = set()
        for tensor in params.values():
            local = tensor.to_local() if isinstance(tensor, DTensor) else tensor
            held.update(int(v) for v in local.detach().reshape(-1).tolist())
        seen = ids_read(reads)
        result.update(read=sorted(set(seen)), read_count=len(seen), held=sorted(held))
    return result


def save(task: dict, model, torch) -> dict:
    """Save from every rank; a rank named by ``kill_rank`` dies (SIGKILL) after writing its first block."""
    import os
    import signal

    import torch.distributed as dist

    from modelport.distributed import saving

    if task.get("kill_rank") == dist.get_rank():
        def die(step: str) -> None:
            if step.startswith("block:"):
                os.kill(os.getpid(), signal.SIGKILL)

        saving._fault_hook = die
    model.save_pretrained(task["target"], max_shard_size=task.get("max_shard_size", "5GB"))
    return {"case": task["case"], "saved": sorted(os.listdir(task["target"]))}


if __name__ == "__main__":
    main()
