"""A third-party adapter with a checkpoint framework of its own converts to and from torch like the built-in ones.

The worked example (``modelport-tinytensor``) declares a ``tinytensor``
checkpoint framework and a tiny reference model (BERT's weights, no compute).
With that record alone, ``modelport convert --to tinytensor`` plans against its
tree, and its checkpoints convert back to PyTorch, bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelport import adapters, frameworks
from modelport.checkpoint import Checkpoint
from modelport.cli import main

pytestmark = pytest.mark.skipif(not {"tinytensor", "torch"} <= set(adapters.available()),
                                reason="needs the tinytensor example and the torch adapter")

GOLDEN = Path(__file__).resolve().parents[2] / "tests" / "golden" / "data" / "bert"


def _same_tensors(ours: Checkpoint, reference: Checkpoint) -> None:
    assert set(ours) == set(reference)
    for name in reference:
        assert ours[name].dtype == reference[name].dtype and ours[name].tobytes() == reference[name].tobytes(), name


def test_the_framework_is_known_from_the_adapter_alone():
    facts = frameworks.get("tinytensor")
    assert "tinytensor" in frameworks.tags() and facts.adapter == "tinytensor" and facts.names_like == "pt"


@pytest.mark.parametrize("source", ["pt-safetensors", "tf-h5", "flax-msgpack-sharded"])
def test_convert_to_the_third_party_framework_and_back(tmp_path, source):
    assert main(["convert", str(GOLDEN / source), str(tmp_path / "tiny"), "--to", "tinytensor"]) == 0
    tiny = Checkpoint.open(tmp_path / "tiny")
    assert tiny.framework == "tinytensor" and tiny.metadata["format"] == "tinytensor"
    _same_tensors(tiny, Checkpoint.open(GOLDEN / "pt-safetensors"))
    assert main(["convert", str(tmp_path / "tiny"), str(tmp_path / "back"), "--to", "pt"]) == 0
    back = Checkpoint.open(tmp_path / "back")
    assert back.framework == "pt"
    _same_tensors(back, Checkpoint.open(GOLDEN / "pt-safetensors"))


def test_the_tiny_model_loads_and_saves_through_the_model_layer(tmp_path):
    from modelport_tinytensor.models import TinyBertModel

    model, info = TinyBertModel.from_pretrained(GOLDEN / "tf-h5", output_loading_info=True)  # any framework's checkpoint
    assert (info["missing_keys"], info["unexpected_keys"], info["mismatched_keys"]) == ([], [], [])
    model.save_pretrained(tmp_path / "saved")
    _same_tensors(Checkpoint.open(tmp_path / "saved"), Checkpoint.open(GOLDEN / "pt-safetensors"))
    torch_model = adapters.get("torch").load_model(tmp_path / "saved")  # and PyTorch reads what it wrote
    inputs = {k: v for k, v in np.load(GOLDEN / "inputs.npz").items()}
    logits = adapters.get("torch").run_model(torch_model, inputs)["last_hidden_state"]
    reference = np.load(GOLDEN / "outputs-pt.npz")["masked/last_hidden_state"]
    assert np.abs(logits - reference).max() <= 1e-5
