"""One process of a sharded Flax load, run by test_flax_sharding.py in a child (JAX's device count is fixed at import).

    python _sharded_worker.py TASKS.json OUT.json [--devices N] [--process I --processes P --port PORT]

For each task it loads a checkpoint over a mesh of all devices (2 x rest) and writes what the test asserts:
``outputs`` tasks the largest difference between the sharded model's logits and the same model loaded whole in this
process; ``trace`` tasks (on an index checkpoint, whose values are their own element ids) the element ids this
process read from the files and the ids its devices hold.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))  # the shared helpers: import _support


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tasks")
    parser.add_argument("out")
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--process", type=int, default=0)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"
    import jax

    if args.processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator_address=f"127.0.0.1:{args.port}", num_processes=args.processes,
                                   process_id=args.process)
    import numpy as np
    from jax.sharding import Mesh

    mesh = Mesh(np.array(jax.devices()).reshape(2, -1), ("data", "model"))
    results = [run(task, mesh) for task in json.loads(open(args.tasks).read())]
    with open(args.out, "w") as fh:
        json.dump({"process": jax.process_index(), "devices": jax.device_count(), "local": jax.local_device_count(),
                   "results": results}, fh)


def run(task: dict, mesh) -> dict:
    import jax
    import numpy as np
    from flax.traverse_util import flatten_dict, unflatten_dict
    from jax.experimental import multihost_utils
    from jax.sharding import NamedSharding, PartitionSpec

    import modelport_flax
    from modelport.distributed import recording_reads

    from _support.sharded import ids_read

    FlaxAutoModelForCausalLM = getattr(modelport_flax, task.get("model_class", "FlaxAutoModelForCausalLM"))  # noqa: N806
    rules = task["rules"] if isinstance(task["rules"], str) else [tuple(rule) for rule in task["rules"]]
    if task.get("make_mesh"):  # jax.make_mesh's axes are explicit by default
        mesh = jax.make_mesh(mesh.devices.shape, mesh.axis_names)
    if task["kind"] == "error":  # a load that must be refused, with do_init left True
        try:
            FlaxAutoModelForCausalLM.from_pretrained(task["path"], mesh=mesh, partition_rules=rules)
        except Exception as error:  # the test asserts its type and message
            return {"case": task["case"], "error": type(error).__name__, "message": str(error)}
        return {"case": task["case"], "error": None}
    with recording_reads() as reads:
        model, params = FlaxAutoModelForCausalLM.from_pretrained(task["path"], _do_init=False, mesh=mesh, partition_rules=rules)
    leaves = {"/".join(k): v for k, v in _flat(params)}
    result = {"case": task["case"], "specs": {path: [_entry(e) for e in leaf.sharding.spec] for path, leaf in leaves.items()},
              "shapes": {path: list(leaf.shape) for path, leaf in leaves.items()}}
    if task["kind"] == "save" and task.get("kill_process") == jax.process_index():
        import signal

        from modelport.distributed import saving

        def die(step: str) -> None:  # SIGKILL after this process's first block
            if step.startswith("block:"):
                os.kill(os.getpid(), signal.SIGKILL)

        saving._fault_hook = die
    if task["kind"] == "save":
        model.save_pretrained(task["target"], params=params, max_shard_size=task["max_shard_size"])
        # gathered in the params' own order (a pytree map would sort the keys, and with them the files' order)
        flat = flatten_dict(params)
        gathered = unflatten_dict({k: np.asarray(multihost_utils.process_allgather(v, tiled=True)) for k, v in flat.items()})
        if jax.process_index() == 0:  # the same params gathered to this host, saved the ordinary way
            whole = task["target"] + "-whole"
            model.save_pretrained(whole, params=gathered, max_shard_size=task["max_shard_size"])
            result["same_files"] = sorted(os.listdir(whole)) == sorted(os.listdir(task["target"])) and all(
                Path(whole, f).read_bytes() == Path(task["target"], f).read_bytes() for f in os.listdir(whole))
            result["files"] = sorted(os.listdir(task["target"]))
    elif task["kind"] == "outputs":
        ids = np.asarray(task["input_ids"], dtype=np.int32)
        replicated = NamedSharding(mesh, PartitionSpec())
        logits = jax.jit(lambda p, x: model(x, params=p).logits, out_shardings=replicated)(params, ids)
        sharded = np.asarray(multihost_utils.process_allgather(logits, tiled=True))
        whole = np.asarray(FlaxAutoModelForCausalLM.from_pretrained(task["path"])(ids).logits)
        result["max_difference"] = float(np.abs(sharded - whole).max())
    else:
        held: set[int] = set()
        for leaf in leaves.values():
            for shard in leaf.addressable_shards:
                held.update(int(v) for v in np.asarray(shard.data).reshape(-1))
        seen = ids_read(reads)
        result.update(read=sorted(set(seen)), read_count=len(seen), held=sorted(held))
    return result


def _entry(entry):
    return list(entry) if isinstance(entry, tuple) else entry


def _flat(tree, prefix=()):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flat(value, (*prefix, key))
        else:
            yield (*prefix, key), value


if __name__ == "__main__":
    sys.exit(main())
