"""Rescue: every TF and Flax class of transformers 4.57.6, converted into PyTorch by modelport, loads in transformers'
PyTorch class with nothing missing or unexpected and reproduces the source's outputs within 1e-4.

Needs transformers 4.57.6 with TensorFlow (tf-keras) and Flax. ``nox -s rescue`` runs every class in the golden
environment; ``nox -s coinstall`` runs :data:`QUICK` (one class per kind of exception the tables hold). With
``MODELPORT_RESCUE_RESULTS=FILE`` each result is appended to FILE as a JSON line (``docs/conversion.md``'s table).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the rescue check needs transformers 4.57.6 (nox -s rescue or coinstall)")
pytest.importorskip("tf_keras", reason="transformers' TF classes need tf-keras")
pytest.importorskip("flax")
pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).parents[1] / "golden"))
from rescue_models import Case, as_saved, build, cases, compare, pytorch_inputs, source_outputs  # noqa: E402

import modelport  # noqa: E402

TOLERANCE = 1e-4

#: classes the table generator could not settle, with its evidence (transformers cannot build or run the class, or its
#: TF/Flax and PyTorch classes compute differently from the same weights): tests/golden/make_rescue_tables.py writes it
PROBLEMS = Path(__file__).parents[1] / "golden" / "data" / "rescue-problems.json"
SKIPPED: dict[str, str] = json.loads(PROBLEMS.read_text()) if PROBLEMS.is_file() else {}

#: one class per kind of exception in the tables, and one per layout family: what ``nox -s coinstall`` runs (no Flax
#: T5 there: transformers 4.57.6's calls jnp.clip(a_max=...), which the jax of that environment, 0.10.2, no longer takes)
QUICK = ["TFRobertaForMaskedLM", "FlaxRobertaModel", "TFConvBertModel", "TFHubertModel", "TFMPNetForMaskedLM",
         "FlaxMarianMTModel", "FlaxResNetForImageClassification", "TFResNetModel", "FlaxElectraForPreTraining",
         "TFT5ForConditionalGeneration", "FlaxBartForConditionalGeneration", "TFViTForImageClassification", "FlaxBertForCausalLM",
         "TFDistilBertForQuestionAnswering", "FlaxWav2Vec2Model"]

#: saved forms checked beside the default one (a single h5 or msgpack file)
VARIANTS = {"TFRobertaForMaskedLM": ["sharded", "safetensors"], "FlaxRobertaModel": ["sharded", "safetensors"],
            "TFT5ForConditionalGeneration": ["sharded"], "FlaxBartForConditionalGeneration": ["safetensors"],
            "TFResNetModel": ["safetensors"], "FlaxMarianMTModel": ["sharded"]}


def _selected() -> list[tuple[Case, str]]:
    quick = os.environ.get("MODELPORT_RESCUE", "all") == "quick"
    chosen = []
    for case in cases():
        if quick and case.source_class not in QUICK:
            continue
        for variant in ["single", *VARIANTS.get(case.source_class, [])]:
            chosen.append(pytest.param(case, variant, id=f"{case.id}-{variant}"))
    return chosen


def _save(model: Any, folder: Path, variant: str) -> None:
    if variant == "sharded":
        model.save_pretrained(folder, max_shard_size="20KB")
    elif variant == "safetensors":
        model.save_pretrained(folder, safe_serialization=True)
    else:
        model.save_pretrained(folder)


@pytest.mark.slow
@pytest.mark.parametrize(("case", "variant"), _selected())
def test_rescued_checkpoint_loads_in_transformers_and_gives_the_same_outputs(case: Case, variant: str, tmp_path: Path) -> None:
    import torch
    import transformers

    if case.source_class in SKIPPED:
        _record(case, variant, "skipped", SKIPPED[case.source_class])
        pytest.skip(SKIPPED[case.source_class])
    transformers.logging.set_verbosity_error()
    model, config, inputs = build(case, seed=2)  # another draw than the tables were made from
    source = tmp_path / "source"
    _save(model, source, variant)
    expected = source_outputs(as_saved(model, source, case), inputs, case)
    if variant == "sharded":
        assert len([p for p in source.iterdir() if ".index." not in p.name and p.suffix in (".h5", ".msgpack")]) > 1

    report = modelport.convert(source, tmp_path / "pt", to="pt", progress=False)

    assert report.ok and not report.unexpected, report.summary()
    pytorch, info = getattr(transformers, case.pytorch_class).from_pretrained(tmp_path / "pt", output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == [], info
    pytorch.eval()
    with torch.no_grad():
        diffs = compare(expected, pytorch(**pytorch_inputs(inputs, case)))
    assert diffs, f"no output of {case.pytorch_class} to compare with {case.source_class}'s {sorted(expected)}"
    worst = max(diffs.values())
    _record(case, variant, "ok" if worst <= TOLERANCE else "differs", f"{worst:.1e}", dropped=len(report.dropped))
    assert worst <= TOLERANCE, diffs


def _record(case: Case, variant: str, status: str, detail: str, **extra: Any) -> None:
    path = os.environ.get("MODELPORT_RESCUE_RESULTS")
    if path:
        line = {"model_type": case.model_type, "class": case.source_class, "pytorch": case.pytorch_class, "variant": variant,
                "status": status, "detail": detail, **extra}
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


def test_every_case_has_a_pytorch_class() -> None:
    import transformers

    missing = [case.source_class for case in cases() if not hasattr(transformers, case.pytorch_class)]
    assert missing == []


def test_quick_cases_exist() -> None:
    names = {case.source_class for case in cases()}
    assert set(QUICK) <= names and set(VARIANTS) <= names
    assert np.all([name in QUICK for name in VARIANTS])


@pytest.mark.slow
def test_a_rescue_pull_request_of_a_tf_mpnet_loads_in_transformers_and_is_verified_with_its_classes(hub, tmp_path) -> None:
    """modelport has no MPNet class: the pull request's weights load in transformers' PyTorch class from refs/pr/1,
    and --verify ran transformers' TF class on the source and its PyTorch class on the result."""
    import secrets

    import torch
    import transformers
    from huggingface_hub import HfApi

    case = next(c for c in cases() if c.source_class == "TFMPNetForMaskedLM")
    model, _, inputs = build(case, seed=3)
    expected = source_outputs(model, inputs, case)
    model.save_pretrained(tmp_path / "tf", max_shard_size="30KB")
    repo = f"modelport-test/tf-mpnet-{secrets.token_hex(3)}"
    HfApi().create_repo(repo)
    HfApi().upload_folder(repo_id=repo, folder_path=tmp_path / "tf")

    report = modelport.convert(repo, tmp_path / "pt", to="pt", verify=True, push=repo, create_pr=True, progress=False)

    assert "transformers' classes" in report.verified_with and max(report.verification.values()) <= TOLERANCE
    assert HfApi().list_repo_files(repo) == HfApi().list_repo_files(repo, revision="main")  # main as it was
    assert "model.safetensors" not in HfApi().list_repo_files(repo)
    pytorch, info = transformers.MPNetForMaskedLM.from_pretrained(repo, revision="refs/pr/1", output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    pytorch.eval()
    with torch.no_grad():
        diffs = compare(expected, pytorch(**pytorch_inputs(inputs, case)))
    assert diffs and max(diffs.values()) <= TOLERANCE, diffs
    description = HfApi().list_repo_commits(repo, revision="refs/pr/1")[0].message
    assert "Verified" in description and "MPNetForMaskedLM" in description and "No other file is changed" in description


@pytest.mark.slow
@pytest.mark.parametrize("source_class", ["TFDeiTForImageClassification", "FlaxBartForConditionalGeneration", "FlaxWav2Vec2Model"])
def test_verify_runs_transformers_classes_on_pixels_decoder_ids_and_audio(source_class: str, tmp_path: Path) -> None:
    case = next(c for c in cases() if c.source_class == source_class)
    model, _, _ = build(case, seed=4)
    model.save_pretrained(tmp_path / "src")

    report = modelport.convert(tmp_path / "src", tmp_path / "pt", to="pt", verify=True, progress=False)

    assert "transformers' classes" in report.verified_with, report.verified_with
    assert report.verification and max(report.verification.values()) <= TOLERANCE, report.verification
