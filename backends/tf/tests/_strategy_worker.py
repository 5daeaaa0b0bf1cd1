"""Loads under a ``tf.distribute.MirroredStrategy`` of two logical CPUs, in a child (TF fixes its devices at start).

    python _strategy_worker.py CHECKPOINT OUT.json

Writes: the variables' kinds, whether every replica holds the single-device load's values, the largest difference
of each replica's logits from the single-device model's, and the same after ``load_checkpoint`` into a model
whose variables already exist (the assign path).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tensorflow as tf


def main() -> None:
    path, out = sys.argv[1], sys.argv[2]
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from modelport import Checkpoint
    from modelport_tf import TFAutoModelForCausalLM

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    single = TFAutoModelForCausalLM.from_pretrained(path)
    ids = np.array([[1, 5, 7, 3, 2, 9]])
    expected = np.asarray(single(ids).logits)
    wanted = [np.asarray(v) for v in single.weights]  # in build order, the same in every instance
    with strategy.scope():
        model = TFAutoModelForCausalLM.from_pretrained(path)
    result = {"kinds": sorted({type(v.value).__name__ for v in model.weights}),
              "replicas_equal": _replicas_equal(model, wanted), "difference": _difference(strategy, model, ids, expected)}
    with strategy.scope():  # variables that exist already, then a checkpoint assigned into them
        again = TFAutoModelForCausalLM.from_config(single.config)
        again(ids)  # built with random values
    again.load_checkpoint(Checkpoint.open(path))
    result["assigned_replicas_equal"] = _replicas_equal(again, wanted)
    result["assigned_difference"] = _difference(strategy, again, ids, expected)
    with open(out, "w") as fh:
        json.dump(result, fh)


def _replicas_equal(model, wanted) -> bool:
    assert len(model.weights) == len(wanted)
    return all(np.array_equal(np.asarray(replica), value) for v, value in zip(model.weights, wanted) for replica in v.value.values)


def _difference(strategy, model, ids, expected) -> float:
    logits = strategy.run(tf.function(lambda: model(ids).logits))
    return max(float(np.abs(np.asarray(replica) - expected).max()) for replica in logits.values)


if __name__ == "__main__":
    main()
