"""Rescue pull requests: a TF-only Hub repo gets PyTorch weights added in one pull-request commit, main untouched.

Against the local Hub server, through the real huggingface_hub client. The PyTorch adapter's load from
``refs/pr/N`` runs where torch is installed; transformers' load is in tests/rescue (coinstall and nox -s rescue).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys

import numpy as np
import pytest

import modelport
from modelport.checkpoint import Checkpoint
from modelport.errors import ConversionError, HubError

from _support.golden import GOLDEN


def _tf_only_repo(hub, tmp_path, name: str, source: str = "tf-h5-sharded") -> tuple[str, str]:
    """A Hub repo holding transformers' TF BERT checkpoint (sharded h5), its config and a card; ``(repo, commit)``."""
    from huggingface_hub import HfApi

    folder = tmp_path / name
    shutil.copytree(GOLDEN / "bert" / source, folder)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# A TF-only model\n", encoding="utf-8")
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n", encoding="utf-8")
    repo = f"modelport-test/{name}-{secrets.token_hex(3)}"
    api = HfApi()
    api.create_repo(repo, exist_ok=True)
    info = api.upload_folder(repo_id=repo, folder_path=folder, commit_message="TF weights")
    return repo, info.oid


def _files(repo: str, revision: str) -> dict[str, str]:
    from huggingface_hub import HfApi

    return {entry.path: getattr(entry, "blob_id", "") for entry in HfApi().list_repo_tree(repo, revision=revision, recursive=True)}


def test_a_rescue_opens_one_pull_request_adding_only_the_pytorch_weights(hub, tmp_path):
    from huggingface_hub import HfApi

    repo, commit = _tf_only_repo(hub, tmp_path, "tf-only")
    main_before = _files(repo, "main")

    report = modelport.convert(repo, tmp_path / "out", to="pt", push=repo, create_pr=True, max_shard_size="40KB",
                               progress=False)

    api = HfApi()
    refs = api.list_repo_refs(repo, include_pull_requests=True)
    assert [pr.ref for pr in refs.pull_requests] == ["refs/pr/1"]
    assert report.pushed and ("refs/pr/1" in report.pushed or "discussions/1" in report.pushed)
    assert _files(repo, "main") == main_before  # main untouched
    in_pr = _files(repo, "refs/pr/1")
    added = {name for name in in_pr if name not in main_before}
    assert added == {*report.files, report.index_file} and len(report.files) > 1  # sharded, with its index
    assert {k: v for k, v in in_pr.items() if k in main_before} == main_before  # every other file kept, byte for byte
    pr_commits = api.list_repo_commits(repo, revision="refs/pr/1")
    assert [c.commit_id for c in pr_commits][1] == commit  # one commit on top of the converted one
    assert "PyTorch weights" in pr_commits[0].title


def test_the_pull_request_says_what_was_converted_from_which_commit_and_how_it_was_checked(hub, tmp_path):
    from huggingface_hub import HfApi

    repo, commit = _tf_only_repo(hub, tmp_path, "tf-only-described", source="tf-h5")
    report = modelport.convert(repo, tmp_path / "out", to="pt", push=repo, create_pr=True, progress=False)

    description = HfApi().list_repo_commits(repo, revision="refs/pr/1")[0].message
    assert commit in description and "tf_model.h5" in description and "model.safetensors" in description
    assert f"{len(report.converted)} written" in description and "0 missing" in description
    assert "Not verified" in description  # no --verify here: it says so rather than claiming a check


def test_the_converted_weights_in_the_pull_request_equal_the_source_tensors(hub, tmp_path):
    from huggingface_hub import snapshot_download

    repo, _ = _tf_only_repo(hub, tmp_path, "tf-only-values", source="tf-h5")
    modelport.convert(repo, tmp_path / "out", to="pt", push=repo, create_pr=True, progress=False)

    pr = Checkpoint.open(snapshot_download(repo, revision="refs/pr/1", allow_patterns=["*.safetensors", "*.json"]))
    pytorch = Checkpoint.open(GOLDEN / "bert" / "pt-safetensors")  # transformers' PyTorch save of the same model
    assert pr.framework == "pt" and set(pr) <= set(pytorch)
    for name in pr:
        np.testing.assert_array_equal(np.asarray(pr[name]), np.asarray(pytorch[name]), err_msg=name)
    assert set(pytorch) - set(pr) <= {"embeddings.position_ids"}


def test_pushing_to_another_repo_uploads_the_whole_result(hub, tmp_path):
    from huggingface_hub import HfApi

    repo, _ = _tf_only_repo(hub, tmp_path, "tf-only-copy", source="tf-h5")
    report = modelport.convert(repo, tmp_path / "out", to="pt", push=repo + "-pt", progress=False)

    files = set(HfApi().list_repo_files(repo + "-pt"))
    assert {"config.json", "vocab.txt", "README.md", *report.files} <= files and "tf_model.h5" not in files


def test_a_rescue_against_a_moved_branch_is_refused_and_opens_nothing(hub, tmp_path, monkeypatch):
    """The weights were made from one commit: if main moved while converting, the Hub refuses the commit."""
    from huggingface_hub import HfApi

    repo, _ = _tf_only_repo(hub, tmp_path, "tf-only-moved", source="tf-h5")
    from modelport.conversion import publish

    original = publish.add_files

    def move_main_first(*args, **kwargs):
        HfApi().upload_file(path_or_fileobj=b"moved", path_in_repo="NOTES.md", repo_id=repo)
        return original(*args, **kwargs)

    monkeypatch.setattr(publish, "add_files", move_main_first)
    with pytest.raises(HubError):
        modelport.convert(repo, tmp_path / "out", to="pt", push=repo, create_pr=True, progress=False)
    assert HfApi().list_repo_refs(repo, include_pull_requests=True).pull_requests == []


def test_create_pr_without_push_is_refused_by_the_cli(tmp_path):
    result = subprocess.run([sys.executable, "-m", "modelport", "convert", str(GOLDEN / "bert" / "tf-h5"), str(tmp_path / "o"),
                             "--to", "pt", "--create-pr"], capture_output=True, text=True)
    assert result.returncode == 2 and "--push REPO_ID" in result.stderr and not (tmp_path / "o").exists()


def test_the_pytorch_adapter_loads_the_pull_request(hub, tmp_path):
    pytest.importorskip("torch")
    from modelport_torch import BertModel

    repo, _ = _tf_only_repo(hub, tmp_path, "tf-only-load", source="tf-h5")
    modelport.convert(repo, tmp_path / "out", to="pt", push=repo, create_pr=True, progress=False)

    model = BertModel.from_pretrained(repo, revision="refs/pr/1")
    inputs = np.load(GOLDEN / "bert" / "inputs.npz")
    expected = np.load(GOLDEN / "bert" / "outputs-tf.npz")["masked/last_hidden_state"]  # transformers' TF model's outputs
    import torch

    with torch.no_grad():
        out = model(**{k: torch.from_numpy(inputs[k]).long() for k in ("input_ids", "attention_mask", "token_type_ids")})
    np.testing.assert_allclose(out.last_hidden_state.numpy(), expected, atol=1e-4)


def test_verify_without_transformers_for_an_unimplemented_architecture_says_what_would_enable_it(tmp_path):
    """An ERNIE-typed TF checkpoint: modelport has no ERNIE class; without transformers, --verify cannot run it."""
    import json

    if __import__("importlib").util.find_spec("transformers") is not None:
        pytest.skip("transformers is installed here: verification runs with its classes (tests/rescue)")
    source = tmp_path / "src"
    shutil.copytree(GOLDEN / "bert" / "tf-h5", source)
    config = json.loads((source / "config.json").read_text())
    config.update(model_type="ernie", architectures=["ErnieModel"])
    (source / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConversionError) as caught:
        modelport.convert(source, tmp_path / "out", to="pt", verify=True, progress=False)
    message = str(caught.value)
    assert "verification is unavailable for model_type 'ernie'" in message and "transformers" in message
    assert Checkpoint.open(tmp_path / "out").framework == "pt"  # the weights were written; only the check is missing
