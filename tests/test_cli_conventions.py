"""The command line follows ``hf``'s conventions: one test per item of the CLI issue, each checking the message."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import numpy as np
import pytest

from modelport import BertConfig, __version__
from modelport.cli import build_parser, main
from modelport.hub import upload_folder
from modelport.saving import save_checkpoint
from modelport_conformance.hub import OTHER_TEST_TOKEN


def _tiny(folder, value=1.0):
    save_checkpoint(folder, [("encoder.weight", np.full((4, 4), value, np.float32))])
    BertConfig(hidden_size=8, num_hidden_layers=1).save_pretrained(folder)
    return folder


def _repo(hub, tmp_path, **kwargs):
    repo = f"modelport-test/cli-{secrets.token_hex(4)}"
    upload_folder(_tiny(tmp_path / "src"), repo, **kwargs)
    hub.clear_log()
    return repo


def _run(*argv, env=None):
    """The command in a fresh process; ``env`` entries set to None are removed."""
    merged = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "modelport", *argv], capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in merged.items() if v is not None})


@pytest.mark.parametrize("argv", [["-v", "inspect", "x"], ["inspect", "-v", "x"], ["inspect", "x", "-v"]])
def test_verbose_and_quiet_go_anywhere_on_the_line(argv):
    args = build_parser().parse_args(argv)
    assert (args.verbose, args.quiet) == (1, False)
    quiet = [a if a != "-v" else "-q" for a in argv]
    assert build_parser().parse_args(quiet).quiet is True
    assert build_parser().parse_args(["-vv", "env"]).verbose == 2
    with pytest.raises(SystemExit):  # both at once is a usage error, wherever each is
        main(["-q", "env", "-v"])


def test_log_lines_print_once(hub, tmp_path):
    repo = _repo(hub, tmp_path)
    done = _run("download", repo, "--cache-dir", str(tmp_path / "cache"), "-vv")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "Downloading 'config.json'" in line]
    assert len(lines) == 1, done.stderr  # huggingface_hub's handler only: the root logger is never configured


def test_download_json_token_revision_and_cache_dir(hub, tmp_path, capsys):
    repo = _repo(hub, tmp_path, private=True)
    first = hub.repos[repo].branches["main"]
    upload_folder(_tiny(tmp_path / "v2", 2.0), repo)
    cache = tmp_path / "cache"
    assert main(["download", repo, "--revision", first, "--cache-dir", str(cache), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["commit"] == first and report["format"] == "safetensors" and report["framework"] == "pt"
    assert all(f.startswith(str(cache)) for f in report["files"]) and len(report["files"]) == 2
    assert main(["download", repo, "--token", OTHER_TEST_TOKEN, "--cache-dir", str(cache)]) == 2  # another user's token
    assert "does not exist, or is private" in capsys.readouterr().err
    assert main(["download", repo, "-q", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(str(cache)) and "\\n" not in out  # -q: only the folder, for $(modelport download -q ...)


def test_upload_takes_repo_id_first_and_the_old_order_warns(hub, tmp_path, capsys, monkeypatch):
    folder = _tiny(tmp_path / "m")
    repo = f"modelport-test/cli-{secrets.token_hex(4)}"
    assert main(["upload", repo, str(folder), "--commit-message", "new order"]) == 0
    assert repo in capsys.readouterr().out and hub.repos[repo].commits
    with pytest.warns(FutureWarning, match=r"modelport upload FOLDER REPO_ID` is deprecated; write `modelport upload " + repo):
        assert main(["upload", str(folder), repo, "--message", "old order", "--create-pr"]) == 0
    capsys.readouterr()
    monkeypatch.chdir(folder)
    _tiny(folder, 3.0)
    assert main(["upload", repo, "-q"]) == 0  # FOLDER defaults to the current folder
    assert capsys.readouterr().out.strip().startswith("http")


def test_env_names_versions_adapters_and_hides_the_token(capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert f"- modelport: {__version__}" in out and "- huggingface_hub: " in out and "- python: " in out
    assert "HF_TOKEN=<set>" in out and "hf_secret_value" not in out
    assert main(["env", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["packages"]["modelport"] == __version__ and "numpy" in facts["adapters"]
    assert set(facts) == {"platform", "python", "packages", "adapters", "environment"}


def test_convert_json_names_every_tensor_left_out(embedded, tmp_path, capsys):
    assert main(["convert", str(embedded), str(tmp_path / "out"), "--to", "pt", "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and len(report["converted"]) + len(report["dropped"]) == 104  # every tensor accounted for
    from modelport import adapters

    if "torch" in adapters.available():  # the model proves the buffer redundant; without it, names alone keep it
        assert report["dropped"] == [{"name": "embeddings.position_ids",
                                      "reason": "a buffer the model computes, checked to hold that value"}]


def test_convert_summary_has_verify_time_and_the_dropped_tensor(embedded, tmp_path, capsys):
    from modelport import adapters

    if "torch" not in adapters.available():
        pytest.skip("needs the torch adapter to verify")
    assert main(["convert", str(embedded), str(tmp_path / "out"), "--to", "pt", "--verify", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "left out (1): embeddings.position_ids (a buffer the model computes, checked to hold that value)" in out
    assert "; verifying " in out.splitlines()[0]
    verify_line = [line for line in out.splitlines() if line.startswith("verify:")][0]
    assert " s: OK" in verify_line and float(verify_line.split(" in ")[-1].split(" s")[0]) > 0


SWITCHES = [({"HF_HUB_DISABLE_PROGRESS_BARS": None}, [], True), ({"HF_HUB_DISABLE_PROGRESS_BARS": "1"}, [], False),
            ({"HF_HUB_DISABLE_PROGRESS_BARS": None}, ["-q"], False)]


@pytest.mark.parametrize("env,argv,shown", SWITCHES, ids=["default", "hf-variable", "quiet"])
def test_progress_bar_covers_the_whole_conversion_and_honours_the_switches(golden, tmp_path, env, argv, shown):
    done = _run("convert", str(golden / "bert" / "pt-safetensors"), str(tmp_path / "out"), "--to", "pt", *argv, env=env)
    assert done.returncode == 0, done.stderr
    assert ("converting to pt" in done.stderr) == shown
    if shown:  # the bar is there from the first phase to the last, not only while tensors stream
        for phase in ("opening the source", "streaming tensors", "copying configs and tokenizer files"):
            assert phase in done.stderr
    assert (done.stdout.strip() == "") == ("-q" in argv)  # -q: nothing but errors


def test_convert_from_the_hub_takes_revision_token_and_cache_dir(hub, golden, tmp_path, capsys):
    repo = f"modelport-test/cli-{secrets.token_hex(4)}"
    first = upload_folder(golden / "bert" / "pt-safetensors", repo, private=True).oid
    upload_folder(golden / "gpt2" / "pt-safetensors", repo)  # a later commit with another model
    cache = tmp_path / "cache"
    argv = ["convert", repo, str(tmp_path / "out"), "--to", "pt", "--revision", first, "--cache-dir", str(cache), "--json", "-q"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and len(report["converted"]) == 39  # the BERT of the first commit, not the later GPT-2
    assert list(cache.glob(f"models--modelport-test--{repo.split('/')[1]}/snapshots/{first}/model.safetensors"))
    assert main([*argv[:2], str(tmp_path / "again"), *argv[3:], "--token", OTHER_TEST_TOKEN]) == 2
    assert "does not exist, or is private" in capsys.readouterr().err
