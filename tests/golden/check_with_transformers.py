"""Check, with transformers 4.57.6 itself, that what modelport writes loads back equal.

Run in the golden environment (``nox -s golden_check``), where both
transformers and modelport (installed without dependencies) are importable.
Prints one line per check and exits non-zero if any fails.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import transformers

import modelport

GOLDEN = Path(__file__).parent / "data"
IGNORED = {"transformers_version", "_name_or_path"}
failures: list[str] = []


def comparable(config) -> dict:
    data = config.to_dict()
    if data.get("dtype") is not None:
        data["dtype"] = str(data["dtype"]).removeprefix("torch.")
    return {k: v for k, v in data.items() if k not in IGNORED}


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'PASS' if ok else 'FAIL'} {name} {detail}".rstrip())
    if not ok:
        failures.append(name)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        # 1. transformers' own files, re-saved by modelport, load in transformers to an equal config.
        for arch in ("bert", "bert-mlm", "gpt2"):
            for folder in ("pt-safetensors", "tf-h5", "flax-msgpack"):
                source = GOLDEN / arch / folder
                target = out / arch / folder
                modelport.AutoConfig.from_pretrained(source).save_pretrained(target)
                original = transformers.AutoConfig.from_pretrained(source)
                resaved = transformers.AutoConfig.from_pretrained(target)
                check(f"resave {arch}/{folder}", comparable(original) == comparable(resaved))

        # 2. Configs built and changed in modelport load in transformers with the same values.
        ours = modelport.BertConfig(
            hidden_size=48, num_hidden_layers=3, id2label={0: "neg", 1: "pos", 2: "mixed"},
            label2id={"neg": 0, "pos": 1, "mixed": 2}, dtype="bfloat16", my_flag="kept", architectures=["BertForMaskedLM"],
        )
        ours.save_pretrained(out / "ours-bert")
        theirs = transformers.AutoConfig.from_pretrained(out / "ours-bert")
        check(
            "modelport BertConfig -> transformers",
            type(theirs).__name__ == "BertConfig"
            and theirs.hidden_size == 48
            and theirs.num_labels == 3
            and theirs.id2label == {0: "neg", 1: "pos", 2: "mixed"}
            and str(theirs.dtype) == "torch.bfloat16"
            and theirs.my_flag == "kept"
            and theirs.architectures == ["BertForMaskedLM"],
        )
        gpt = modelport.GPT2Config(n_embd=32, n_layer=1, n_head=2, eos_token_id=7, scale_attn_weights=False)
        gpt.save_pretrained(out / "ours-gpt2")
        theirs = transformers.AutoConfig.from_pretrained(out / "ours-gpt2")
        check(
            "modelport GPT2Config -> transformers",
            (theirs.hidden_size, theirs.n_layer, theirs.eos_token_id, theirs.scale_attn_weights) == (32, 1, 7, False),
        )
        fresh = transformers.GPT2Config(n_embd=32, n_layer=1, n_head=2, eos_token_id=7, scale_attn_weights=False)
        check("modelport GPT2Config == transformers' own", comparable(theirs) == comparable(fresh))

        # 3. And the other way: transformers' changed configs load here with the same values.
        changed = transformers.BertConfig(num_labels=4, hidden_act="relu", dtype="float16", problem_type="regression")
        changed.save_pretrained(out / "theirs-bert")
        back = modelport.AutoConfig.from_pretrained(out / "theirs-bert")
        check(
            "transformers BertConfig -> modelport",
            back.num_labels == 4 and back.hidden_act == "relu" and back.dtype == "float16" and back.problem_type == "regression",
        )
        back.save_pretrained(out / "theirs-bert-resaved")
        same = (out / "theirs-bert-resaved" / "config.json").read_bytes() == (out / "theirs-bert" / "config.json").read_bytes()
        check("transformers BertConfig -> modelport -> same bytes", same)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
