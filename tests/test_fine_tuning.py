"""Fine-tuning in each framework, then use in the others: a sequence classifier (BERT, RoBERTa, DistilBERT, ALBERT, ELECTRA) trained for
20 steps on a fixed synthetic task in PyTorch, Keras or JAX lowers its loss and learns the task, and its save loads in
the two other frameworks with the same predictions (logits within 1e-5)."""

from __future__ import annotations

import numpy as np
import pytest

import modelport

from _support import heads

pytestmark = pytest.mark.skipif(not {"torch", "tf", "flax"} <= set(modelport.adapters.available()),
                                reason="needs the torch, tf and flax adapters")

STEPS = 20
CASES = ["bert-sequence", "roberta-sequence", "distilbert-sequence", "albert-sequence", "electra-sequence"]


def _task() -> dict[str, np.ndarray]:
    """16 sequences; the label is the second token's id modulo 3 (learnable from one position). Ids from 3 up: no
    padding, start or end token."""
    rng = np.random.default_rng(7)
    ids = rng.integers(3, 64, size=(16, 7)).astype(np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "labels": ids[:, 1] % 3}


def _class(framework: str, case: str):
    import importlib

    prefix = {"pt": "", "tf": "TF", "flax": "Flax"}[framework]
    module = importlib.import_module({"pt": "modelport_torch", "tf": "modelport_tf", "flax": "modelport_flax"}[framework])
    return getattr(module, prefix + heads.CASES[case])


def _train_torch(case: str, data: dict, folder) -> list[float]:
    import torch

    torch.manual_seed(0)
    model = _class("pt", case).from_pretrained(heads.folder(case, "pt-safetensors")).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = {k: torch.from_numpy(v) for k, v in data.items()}
    losses = []
    for _ in range(STEPS):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    model.save_pretrained(folder)
    return losses


def _train_tf(case: str, data: dict, folder) -> list[float]:
    import keras

    keras.utils.set_random_seed(0)
    model = _class("tf", case).from_pretrained(heads.folder(case, "tf-h5"))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2))  # the model's own loss
    history = model.fit({k: v.astype(np.int32) for k, v in data.items()}, batch_size=16, epochs=STEPS, shuffle=False, verbose=0)
    model.save_pretrained(folder)
    return history.history["loss"]


def _train_flax(case: str, data: dict, folder) -> list[float]:
    import jax
    import optax

    model = _class("flax", case).from_pretrained(heads.folder(case, "flax-msgpack"))
    optimizer = optax.adam(1e-2)

    @jax.jit
    def step(params, state, rng):
        loss, grads = jax.value_and_grad(lambda p: model(**data, params=p, dropout_rng=rng, train=True)["loss"])(params)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    params, state, rng, losses = model.params, optimizer.init(model.params), jax.random.PRNGKey(0), []
    for _ in range(STEPS):
        rng, dropout = jax.random.split(rng)
        params, state, loss = step(params, state, dropout)
        losses.append(float(loss))
    model.save_pretrained(folder, params=params)
    return losses


def _logits(framework: str, case: str, folder, inputs: dict[str, np.ndarray]) -> np.ndarray:
    model = _class(framework, case).from_pretrained(folder)
    if framework == "pt":
        import torch

        with torch.no_grad():
            return model.eval()(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()
    return np.asarray(model(inputs)["logits"] if framework == "tf" else model(**inputs)["logits"])


TRAIN = {"pt": _train_torch, "tf": _train_tf, "flax": _train_flax}


@pytest.mark.parametrize("framework", list(TRAIN))
@pytest.mark.parametrize("case", CASES)
def test_fine_tuned_classifier_lowers_its_loss_and_predicts_the_same_in_the_other_frameworks(tmp_path, case, framework):
    data = _task()
    losses = TRAIN[framework](case, data, tmp_path / framework)
    assert len(losses) == STEPS and losses[-1] < 0.5 * losses[0], losses
    inputs = {k: v for k, v in data.items() if k != "labels"}
    trained = _logits(framework, case, tmp_path / framework, inputs)
    assert (trained.argmax(-1) == data["labels"]).mean() >= 0.75  # it learned the task, not just a lower loss
    for other in set(TRAIN) - {framework}:
        got = _logits(other, case, tmp_path / framework, inputs)
        assert heads.max_diff(got, trained) <= heads.TOLERANCE, other
        assert np.array_equal(got.argmax(-1), trained.argmax(-1)), other
