import json
import re
import subprocess
import sys

from modelport.cli import main


def test_demo_core_part_reports_the_embedded_checkpoint(embedded, capsys):
    assert main(["demo", "--core"]) == 0
    out = capsys.readouterr().out
    assert "BertConfig: model_type=bert, hidden_size=384, layers=6" in out
    assert re.search(r"written by pt as safetensors; 104 tensors; 22,713,216 floating-point parameters; 22,713,728 values", out)
    assert "numpy" in out
    assert re.search(r"safetensors +\d+ shards \+ index, 90\.9 MB .* 104 of 104 tensors identical", out)


def test_demo_converts_to_tf_and_flax_and_the_embeddings_agree(embedded, tmp_path, capsys):
    from modelport import adapters

    if not {"torch", "tf", "flax"} <= set(adapters.available()):
        assert main(["demo"]) == 0  # without the adapters: the core part, and a note saying what to install
        assert "converting needs the adapters" in capsys.readouterr().out
        return
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "pt -> tf (h5): 103 tensors" in out and "pt -> flax (msgpack): 103 tensors" in out
    assert out.count(": OK") == 2
    diffs = [float(d) for d in re.findall(r"max \|(?:TensorFlow|Flax) - PyTorch\| = (\S+)", out)]
    assert len(diffs) == 2 and max(diffs) <= 1e-4
    assert (tmp_path / "tf" / "tf_model.h5").is_file() and (tmp_path / "flax" / "flax_model.msgpack").is_file()
    assert (tmp_path / "tf" / "tokenizer.json").is_file() and (tmp_path / "flax" / "1_Pooling" / "config.json").is_file()


def test_demo_gguf_turns_smollm2_into_three_frameworks_that_answer_the_chat_prompt_alike(tmp_path, capsys):
    import pytest

    from modelport import adapters

    from _support.gguf import smollm2_file

    smollm2_file()  # skips without the file or the gguf reader
    pytest.importorskip("tokenizers")
    pytest.importorskip("jinja2")
    if not {"torch", "tf", "flax"} <= set(adapters.available()):
        pytest.skip("the GGUF demo needs the three adapters")
    assert main(["demo", "--gguf", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"llama architecture, \d+ tensors stored as", out) and "49,152 tokens, 48,900 merges, pre-tokenizer 'smollm'" in out
    assert re.search(r"in the file's chat template -> \d+ tokens", out)
    answers = re.findall(r"^  (?:PyTorch|TensorFlow|Flax) +'([^']*)'", out, re.M)
    assert len(answers) == 3 and len(set(answers)) == 1 and "Paris" in answers[0]
    assert len(re.findall(r"\d+ tokens, [\d.]+ tokens/s; first call", out)) == 3
    assert "the same token ids in all three frameworks" in out
    for framework in ("pt", "tf", "flax"):
        assert (tmp_path / framework / "tokenizer.json").is_file() and (tmp_path / framework / "config.json").is_file()


def test_errors_become_exit_status_2_with_the_message(tmp_path, capsys):
    assert main(["demo", str(tmp_path)]) == 2
    assert f"{tmp_path}/config.json" in capsys.readouterr().err


def test_inspect_embedded_checkpoint(embedded, capsys):
    assert main(["inspect", str(embedded)]) == 0
    out = capsys.readouterr().out
    assert "written by   PyTorch (pt)" in out and "tensors      104" in out
    assert "parameters   22,713,216 floating-point (22,713,728 values in all)" in out


def test_inspect_json_is_stable(golden, capsys):
    assert main(["inspect", str(golden / "gpt2" / "tf-h5-sharded"), "--json", "--tensors"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"path", "source", "framework", "format", "sharded", "files", "model_type", "architectures",
                           "config_error", "tensor_count", "parameter_count", "value_count", "total_bytes", "dtypes", "metadata",
                           "tensors"}
    assert (report["source"], report["model_type"], report["config_error"]) == ("local", "gpt2", None)
    assert (report["framework"], report["format"], report["sharded"]) == ("tf", "h5", True)
    assert report["tensor_count"] == len(report["tensors"]) == 28 and report["dtypes"] == {"float32": 28}
    assert [f["name"] for f in report["files"]][-1] == "tf_model.h5.index.json"
    first = report["tensors"][0]
    assert set(first) == {"name", "dtype", "shape", "file"} and first["file"].startswith("tf_model-0000")
    assert sum(4 * _numel(t["shape"]) for t in report["tensors"]) == report["total_bytes"]


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def test_inspect_a_bad_file_is_an_error_not_a_traceback(tmp_path, capsys):
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    assert main(["inspect", str(tmp_path)]) == 2
    assert "model.safetensors" in capsys.readouterr().err


def test_python_dash_m_modelport_is_the_command(golden):
    done = subprocess.run([sys.executable, "-m", "modelport", "inspect", str(golden / "bert" / "pt-safetensors"), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["framework"] == "pt"
    bad = subprocess.run([sys.executable, "-m", "modelport", "inspect", str(golden / "no-such-folder")], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "modelport: error:" in bad.stderr  # the same exit status and message as the script


def test_the_checkpoint_api_is_at_the_top_level():
    import modelport
    from modelport.checkpoint import Checkpoint
    from modelport.conversion.converter import convert
    from modelport.saving import save_checkpoint

    assert (modelport.Checkpoint, modelport.save_checkpoint, modelport.convert) == (Checkpoint, save_checkpoint, convert)
    assert {"Checkpoint", "save_checkpoint", "convert"} <= set(modelport.__all__)
