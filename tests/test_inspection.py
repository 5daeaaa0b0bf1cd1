"""``modelport inspect`` on local folders and on Hub repos (range requests only), through the real client and local Hub."""

from __future__ import annotations

import json
import secrets

import numpy as np
import pytest

from modelport import BertConfig
from modelport.checkpoint import Checkpoint
from modelport.cli import main
from modelport.hub import upload_folder
from modelport.inspection import local_report, remote_report
from modelport.saving import save_checkpoint

MB = 1024 * 1024


def _three_shards(folder, dtype=np.float32):
    rng = np.random.default_rng(1)
    tensors = [(f"encoder.layer.{i}.weight", rng.standard_normal((512, 1024)).astype(dtype)) for i in range(3)]
    tensors.append(("embeddings.position_ids", np.arange(64, dtype=np.int64)[None]))
    save_checkpoint(folder, tensors, max_shard_size="2.5MB")
    BertConfig(hidden_size=8, num_hidden_layers=1, architectures=["BertModel"]).save_pretrained(folder)
    return tensors


def test_remote_inspect_of_a_3_shard_repo_reads_only_header_ranges(hub, tmp_path, capsys):
    folder = tmp_path / "v1"
    tensors = _three_shards(folder)
    shards = sorted(p.name for p in folder.glob("model-*.safetensors"))
    assert len(shards) == 3
    repo = f"modelport-test/inspect-{secrets.token_hex(4)}"
    upload_folder(folder, repo)
    hub.clear_log()

    assert main(["inspect", repo, "--json", "--tensors"]) == 0
    report = json.loads(capsys.readouterr().out)
    local = local_report(folder, with_tensors=True)
    for key in ("framework", "format", "sharded", "tensor_count", "parameter_count", "value_count", "total_bytes", "dtypes",
                "model_type", "architectures", "config_error", "tensors"):
        assert report[key] == local[key], key  # the same facts as inspecting the downloaded folder
    assert report["parameter_count"] == 3 * 512 * 1024 and report["value_count"] == 3 * 512 * 1024 + 64
    assert report["dtypes"] == {"float32": 3, "int64": 1} and report["sharded"] is True
    assert [f["name"] for f in report["files"]] == [*shards, "model.safetensors.index.json"]
    assert [f["bytes"] for f in report["files"][:3]] == [(folder / s).stat().st_size for s in shards]
    assert report["model_type"] == "bert" and report["architectures"] == ["BertModel"] and report["source"] == "hub"
    assert len(tensors) == report["tensor_count"]

    weights = [r for r in hub.log if "/resolve/" in r["path"] and r["path"].endswith(".safetensors")]
    assert {r["path"].rsplit("/", 1)[-1] for r in weights} == set(shards)
    assert all(r["method"] == "GET" and r["range"] and r["range"].startswith("bytes=") for r in weights), weights
    fetched = sum(int(r["range"][6:].split("-")[1]) - int(r["range"][6:].split("-")[0]) + 1 for r in weights)
    assert fetched <= 3 * 64 * 1024 < sum((folder / s).stat().st_size for s in shards)  # headers, never the data


def test_remote_inspect_text_and_revision_syntax(hub, tmp_path, capsys):
    folder = tmp_path / "v1"
    _three_shards(folder)
    repo = f"modelport-test/inspect-{secrets.token_hex(4)}"
    first = upload_folder(folder, repo)
    assert main(["inspect", f"{repo}@{first.oid}"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{repo}@{first.oid}")
    assert "model        bert (BertModel)" in out and "parameters   1,572,864 floating-point" in out
    assert main(["inspect", repo, "--revision", "no-such-branch"]) == 2
    assert "revision does not exist" in capsys.readouterr().err


def test_remote_inspect_of_an_h5_only_repo_says_how_to_see_more(hub, tmp_path, capsys):
    folder = tmp_path / "tf"
    save_checkpoint(folder, [("bert/embeddings/weight:0", np.ones((4, 4), np.float32))], format="h5", framework="tf")
    BertConfig(hidden_size=8, num_hidden_layers=1).save_pretrained(folder)
    repo = f"modelport-test/inspect-{secrets.token_hex(4)}"
    upload_folder(folder, repo)
    hub.clear_log()
    assert main(["inspect", repo, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["framework"], report["format"], report["tensor_count"]) == ("tf", "h5", None)
    assert report["files"] == [{"name": "tf_model.h5", "bytes": (folder / "tf_model.h5").stat().st_size}]
    assert f"modelport download {repo} --framework tf" in report["note"]
    assert not [r for r in hub.log if r["path"].endswith("tf_model.h5") and r["method"] == "GET"]  # nothing downloaded


def test_remote_inspect_rejects_a_lying_header_like_a_local_one(hub, tmp_path, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 999]}}).encode()
    (folder / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(16))
    repo = f"modelport-test/inspect-{secrets.token_hex(4)}"
    upload_folder(folder, repo)
    assert main(["inspect", repo]) == 2
    err = capsys.readouterr().err
    assert f"{repo}@" in err and "model.safetensors" in err and "byte length does not match" in err


def test_local_inspect_shows_the_architecture_and_a_broken_config(golden, tmp_path, capsys):
    assert main(["inspect", str(golden / "gpt2" / "pt-safetensors")]) == 0
    assert "model        gpt2 (" in capsys.readouterr().out
    folder = tmp_path / "broken"
    save_checkpoint(folder, [("w", np.ones(3, np.float32))])
    (folder / "config.json").write_text('{"model_type": "bert",')
    assert main(["inspect", str(folder)]) == 0  # the weights are fine: inspect still describes them
    out = capsys.readouterr().out
    assert "config       broken:" in out and "config.json" in out
    report = local_report(folder)
    assert report["model_type"] is None and "config.json" in report["config_error"]
    (folder / "config.json").unlink()
    assert "no config.json" in local_report(folder)["config_error"]


def test_remote_and_local_reports_agree_on_a_single_file(hub, tmp_path):
    folder = tmp_path / "one"
    save_checkpoint(folder, [("a", np.zeros((3, 5), np.float16)), ("b", np.zeros(7, np.int32))])
    repo = f"modelport-test/inspect-{secrets.token_hex(4)}"
    upload_folder(folder, repo)
    remote, local = remote_report(repo), local_report(folder)
    assert remote["config_error"] and local["config_error"]  # no config.json in either
    for key in ("framework", "format", "sharded", "tensor_count", "parameter_count", "total_bytes", "dtypes", "metadata"):
        assert remote[key] == local[key], key
    assert remote["files"] == [{"name": "model.safetensors", "bytes": (folder / "model.safetensors").stat().st_size}]
    assert len(Checkpoint.open(folder)) == 2


@pytest.mark.parametrize("argv", [["inspect", "modelport-test/missing-repo"], ["inspect", "./no/such/folder"]])
def test_inspect_errors_name_what_is_missing(hub, argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert argv[1] in err
    if argv[1].startswith("."):
        assert "no such file or folder" in err and hub.log == []  # a path: the Hub is never asked
