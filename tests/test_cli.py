import re

from modelport.cli import main


def test_demo_reports_the_embedded_checkpoint(embedded, capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "BertConfig: model_type=bert, hidden_size=384, layers=6" in out
    assert re.search(r"written by pt; 104 tensors; 22,713,216 floating-point parameters; 22,713,728 values", out)
    assert "model.safetensors" in out and "numpy" in out


def test_errors_become_exit_status_2_with_the_message(tmp_path, capsys):
    assert main(["demo", str(tmp_path)]) == 2
    assert f"{tmp_path}/config.json" in capsys.readouterr().err
