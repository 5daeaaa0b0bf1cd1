"""A Hub round trip against the local Hub server: push a model, load it back by repo id, same outputs."""

from __future__ import annotations

import numpy as np

from modelport.conversion.verify import probe_inputs
from modelport_conformance.plugin import require
from modelport_conformance.samples import prepare_checkpoint, tiny_bert_config


def test_push_to_hub_and_load_back(adapter, tmp_path):
    require(adapter, "hub")
    require(adapter, "reference_models")
    config = tiny_bert_config()
    prepare_checkpoint(adapter, tmp_path, config)
    model = adapter.load_model(tmp_path)
    repo = f"tester/conformance-{adapter.name}-{tmp_path.name[-12:]}"
    model.push_to_hub(repo)
    again = adapter.model_class(config).from_pretrained(repo)
    inputs = probe_inputs(config)
    ours, theirs = adapter.run_model(model, inputs), adapter.run_model(again, inputs)
    for name in ours:
        assert np.array_equal(ours[name], theirs[name]), f"{adapter.name}: {name} differs after the Hub round trip"
