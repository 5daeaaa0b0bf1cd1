"""Every pair of installed adapters with reference models gives the same outputs on the same checkpoint."""

from __future__ import annotations

import numpy as np

from modelport import adapters
from modelport.conversion.verify import probe_inputs
from modelport_conformance.plugin import require
from modelport_conformance.samples import prepare_checkpoint, tiny_bert_config

TOLERANCE = 1e-5  # max absolute difference of float32 outputs (tiny BERT, N(0, 0.1) weights)


def test_the_same_checkpoint_gives_the_same_outputs(adapter, other_adapter, tmp_path):
    require(adapter, "reference_models")
    other = adapters.get(other_adapter)
    config = tiny_bert_config()
    prepare_checkpoint(adapter, tmp_path, config)
    inputs = probe_inputs(config)
    ours = adapter.run_model(adapter.load_model(tmp_path), inputs)
    theirs = other.run_model(other.load_model(tmp_path), inputs)
    common = sorted(set(ours) & set(theirs))
    assert common, f"{adapter.name} and {other.name} share no output: {sorted(ours)} vs {sorted(theirs)}"
    for name in common:
        diff = float(np.abs(ours[name].astype(np.float64) - theirs[name].astype(np.float64)).max())
        assert diff <= TOLERANCE, f"{adapter.name} and {other.name} differ on {name} by {diff:.3e} (tolerance {TOLERANCE:.0e})"
