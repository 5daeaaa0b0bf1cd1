"""Errors that tell the truth: a mistyped path is a local error at once, a weights file is not its folder, and
Hub advice matches the actual reason. Each case checks the message; the local Hub's log proves no request was made."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from modelport import AutoConfig, BertConfig
from modelport.cli import main
from modelport.errors import CheckpointNotFoundError, HubOfflineError
from modelport.hub import _wrap, resolve_checkpoint
from modelport.locations import is_local, looks_like_repo_id
from modelport.saving import save_checkpoint


@pytest.fixture
def checkpoint(tmp_path):
    folder = tmp_path / "models" / "bert-tiny"
    save_checkpoint(folder, [("encoder.weight", np.ones((2, 2), np.float32))])
    BertConfig(hidden_size=8, num_hidden_layers=1).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("name", ["./models/bert-tny", "models/bert-tny", "{tmp}/models/bert-tny", "~/no-such-model-folder",
                                  "models/bert/v1", "../bert-tiny"])
def test_a_mistyped_path_is_a_local_error_with_no_hub_request(hub, checkpoint, tmp_path, monkeypatch, name, capsys):
    monkeypatch.chdir(tmp_path)  # models/ exists here: "models/bert-tny" is a path, not the repo "models/bert-tny"
    name = name.format(tmp=tmp_path)
    with pytest.raises(CheckpointNotFoundError) as caught:
        is_local(name)
    message = str(caught.value)
    assert name in message and "no such file or folder" in message and "not looked up on the Hub" in message
    assert "HF_HUB_OFFLINE" not in message
    for argv in (["convert", name, str(tmp_path / "out"), "--to", "pt"], ["inspect", name]):
        assert main(argv) == 2
        assert "no such file or folder" in capsys.readouterr().err
    with pytest.raises(CheckpointNotFoundError, match="no such file or folder"):
        AutoConfig.from_pretrained(name)
    with pytest.raises(CheckpointNotFoundError, match="no such file or folder"):
        resolve_checkpoint(name)
    assert hub.log == []


def test_the_listing_of_an_existing_parent_helps_spot_the_typo(checkpoint, tmp_path):
    with pytest.raises(CheckpointNotFoundError, match=r"models exists; it holds bert-tiny"):
        is_local(str(tmp_path / "models" / "bert-tny"))


@pytest.mark.parametrize("name", ["bert-base-uncased", "org/model", "org/model.v2", "Org_1/m-2"])
def test_repo_ids_stay_repo_ids(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert looks_like_repo_id(name) and is_local(name) is False


def test_a_weights_file_where_a_folder_is_needed_names_the_folder(checkpoint, tmp_path, capsys):
    weights = checkpoint / "model.safetensors"
    assert main(["convert", str(weights), str(tmp_path / "out"), "--to", "pt"]) == 2
    err = capsys.readouterr().err
    assert "needs the checkpoint's folder" in err and f"Pass its folder: {checkpoint}" in err
    for call in (lambda: AutoConfig.from_pretrained(weights), lambda: resolve_checkpoint(weights)):
        with pytest.raises(CheckpointNotFoundError, match=f"Pass its folder: {checkpoint}"):
            call()
    assert main(["inspect", str(weights)]) == 0  # inspect describes one file on purpose


def test_a_destination_that_is_a_file_is_refused_before_any_work(checkpoint, tmp_path, capsys):
    target = tmp_path / "out.safetensors"
    target.write_bytes(b"mine")
    assert main(["convert", str(checkpoint), str(target), "--to", "tf"]) == 2
    err = capsys.readouterr().err
    assert "the destination is a file, not a folder" in err and "Free disk space" not in err
    assert target.read_bytes() == b"mine"


def test_upload_while_offline_says_offline_mode_is_on(checkpoint):
    done = subprocess.run([sys.executable, "-m", "modelport", "upload", "someone/model", str(checkpoint)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2
    assert "uploading needs the Hub, and offline mode is on (HF_HUB_OFFLINE)" in done.stderr
    assert "Download it once" not in done.stderr


def test_unreachable_hub_advice_depends_on_whether_offline_mode_is_on(monkeypatch):
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    error = _wrap(LocalEntryNotFoundError("connection refused"), "org/model", None, "config.json")
    assert isinstance(error, HubOfflineError)
    assert "could not be reached" in str(error) and "HF_HUB_OFFLINE" not in str(error)
