"""Check, with transformers 4.57.6 itself, that what modelport writes loads back equal.

Run in the golden environment (``nox -s golden_check``), where both
transformers and modelport (installed without dependencies) are importable.
Prints one line per check and exits non-zero if any fails.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import transformers

import modelport
from modelport.checkpoint import Checkpoint
from modelport.formats import keras_h5
from modelport.saving import save_checkpoint

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
        check_weights(out)
        check_torch_models(out)
        check_flax_models(out)
        check_tf_models(out)
        check_conversions(out)
        check_untied_heads(out)
        check_llama_family(out)
        check_heads(out)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


def check_torch_models(out: Path) -> None:
    """5. Models saved by modelport_torch (safetensors and .bin, single and sharded) load in transformers' PyTorch classes."""
    import modelport_torch

    for arch, classes in CLASSES.items():
        inputs = dict(np.load(GOLDEN / arch / "inputs.npz"))
        ours = getattr(modelport_torch, classes[0]).from_pretrained(GOLDEN / arch / "tf-h5", from_tf=True)
        for safe in (True, False):
            for shard in ("5GB", "20KB"):
                target = out / "torch-models" / arch / f"{safe}-{shard}"
                ours.save_pretrained(target, safe_serialization=safe, max_shard_size=shard)
                theirs = getattr(transformers, classes[0]).from_pretrained(target).eval()
                (name, value), = outputs(theirs, "pt", inputs).items()
                diff = float(np.abs(value - np.load(GOLDEN / arch / "outputs-pt.npz")[f"masked/{name}"]).max())
                check(f"transformers loads modelport_torch save_pretrained ({'safetensors' if safe else 'bin'}, {shard}) {arch}",
                      diff <= 1e-5, f"max |diff| {diff:.2e}")


def check_flax_models(out: Path) -> None:
    """6. Models saved by modelport_flax (msgpack and canonical safetensors, single and sharded) load in transformers' Flax classes."""
    import modelport_flax

    for arch, classes in CLASSES.items():
        inputs = dict(np.load(GOLDEN / arch / "inputs.npz"))
        ours = getattr(modelport_flax, classes[2]).from_pretrained(GOLDEN / arch / "pt-bin")
        for safe in (True, False):
            for shard in ("10GB", "20KB"):
                if safe and shard == "20KB":
                    continue  # transformers' Flax cannot read sharded safetensors (the gap modelport closes)
                target = out / "flax-models" / arch / f"{safe}-{shard}"
                ours.save_pretrained(target, safe_serialization=safe, max_shard_size=shard)
                kwargs = {"from_pt": True} if safe else {}  # canonical safetensors carry PyTorch names
                theirs = getattr(transformers, classes[2]).from_pretrained(target, **kwargs)
                (name, value), = outputs(theirs, "flax", inputs).items()
                diff = float(np.abs(value - np.load(GOLDEN / arch / "outputs-flax.npz")[f"masked/{name}"]).max())
                check(f"transformers loads modelport_flax save_pretrained ({'safetensors' if safe else 'msgpack'}, {shard}) {arch}",
                      diff <= 1e-5, f"max |diff| {diff:.2e}")


def check_tf_models(out: Path) -> None:
    """7. Models saved by modelport_tf (h5 and canonical safetensors, single and sharded) load in transformers' TF classes,
    and the SavedModel export serves the same outputs."""
    import modelport_tf

    for arch, classes in CLASSES.items():
        inputs = dict(np.load(GOLDEN / arch / "inputs.npz"))
        ours = getattr(modelport_tf, classes[1]).from_pretrained(GOLDEN / arch / "flax-msgpack", from_flax=True)
        for kind in ("h5", "tf-safetensors", "canonical-safetensors"):
            for shard in ("5GB", "20KB"):
                target = out / "tf-models" / arch / f"{kind}-{shard}"
                ours.save_pretrained(target, safe_serialization=kind != "h5", max_shard_size=shard,
                                     layout="tf" if kind == "tf-safetensors" else "canonical")
                # transformers 4.57.6's TF classes cannot read PyTorch-format safetensors at all (not even their own:
                # modeling_tf_pytorch_utils.py iterates a safe_open handle), so the canonical file is checked in PyTorch.
                framework = "pt" if kind == "canonical-safetensors" else "tf"
                theirs = getattr(transformers, classes[0 if framework == "pt" else 1]).from_pretrained(target)
                (name, value), = outputs(theirs.eval() if framework == "pt" else theirs, framework, inputs).items()
                diff = float(np.abs(value - np.load(GOLDEN / arch / f"outputs-{framework}.npz")[f"masked/{name}"]).max())
                check(f"transformers ({framework}) loads modelport_tf save_pretrained ({kind}, {shard}) {arch}",
                      diff <= 1e-5, f"max |diff| {diff:.2e}")


def check_conversions(out: Path) -> None:
    """8. Every golden checkpoint converted by `modelport.convert` to each other framework, in safetensors and the native
    format, loads in transformers' class of that framework and gives its reference outputs."""
    folders = ["pt-safetensors", "pt-safetensors-sharded", "pt-bin", "pt-bin-sharded", "tf-h5", "tf-h5-sharded", "tf-safetensors",
               "tf-safetensors-sharded", "flax-msgpack", "flax-msgpack-sharded", "flax-safetensors"]
    worst = 0.0
    count = 0
    for arch, classes in CLASSES.items():
        inputs = dict(np.load(GOLDEN / arch / "inputs.npz"))
        for folder in folders:
            source = folder.split("-")[0]
            for to in ("pt", "tf", "flax"):
                if to == source:
                    continue
                for fmt in ("safetensors", "native"):
                    target = out / "converted" / arch / folder / f"{to}-{fmt}"
                    report = modelport.convert(GOLDEN / arch / folder, target, to=to, format=fmt, progress=False)
                    model_cls = getattr(transformers, classes[("pt", "tf", "flax").index(to)])
                    theirs = model_cls.from_pretrained(target)
                    (name, value), = outputs(theirs.eval() if to == "pt" else theirs, to, inputs).items()
                    diff = float(np.abs(value - np.load(GOLDEN / arch / f"outputs-{to}.npz")[f"masked/{name}"]).max())
                    worst = max(worst, diff)
                    count += 1
                    if not (report.ok and diff <= 1e-5):
                        check(f"convert {arch}/{folder} -> {to} {fmt}", False, f"max |diff| {diff:.2e} {report.summary()}")
    check(f"transformers loads {count} converted checkpoints (3 archs x 11 folders x 2 targets x 2 formats)", count == 132,
          f"max |diff| {worst:.2e}")


def check_untied_heads(out: Path) -> None:
    """9. Untied output layers (tie_word_embeddings=False) saved by each modelport adapter load in transformers' PyTorch
    and Flax classes with the saving model's logits. transformers' TF GPT-2 and BERT-MLM always tie their head (they
    have no variable for an untied one), so h5 files are checked in transformers' PyTorch class instead, from PyTorch."""
    import torch

    import modelport_flax
    import modelport_tf
    import modelport_torch

    for arch in ("gpt2", "bert-mlm"):
        pt_name, tf_name, flax_name = CLASSES[arch]
        inputs = dict(np.load(GOLDEN / arch / "inputs.npz"))
        config = modelport.AutoConfig.from_pretrained(GOLDEN / arch / "pt-safetensors", tie_word_embeddings=False)
        ours = getattr(modelport_torch, pt_name).from_pretrained(GOLDEN / arch / "pt-safetensors", config=config)
        with torch.no_grad():  # a head of its own, far from the embeddings
            ours.get_output_embeddings().weight.copy_(ours.get_input_embeddings().weight * -3.0 + 0.5)
        (_, reference), = outputs(ours, "pt", inputs).items()
        source = out / "untied" / arch / "torch-safetensors"
        ours.save_pretrained(source)
        saves = {"torch-bin": (ours, {"safe_serialization": False}, "pt")}
        tf_model = getattr(modelport_tf, tf_name).from_pretrained(source)
        flax_model = getattr(modelport_flax, flax_name).from_pretrained(source)
        saves.update({"tf-safetensors": (tf_model, {}, "pt"), "flax-safetensors": (flax_model, {}, "pt"),
                      "flax-msgpack": (flax_model, {"safe_serialization": False}, "flax")})
        folders = {"torch-safetensors": (source, "pt")}
        for name, (model, kwargs, reader) in saves.items():
            folders[name] = (out / "untied" / arch / name, reader)
            model.save_pretrained(folders[name][0], **kwargs)
        tf_h5 = out / "untied" / arch / "tf-h5"
        tf_model.save_pretrained(tf_h5, safe_serialization=False)
        modelport.convert(tf_h5, out / "untied" / arch / "tf-h5-to-pt", to="pt", progress=False)
        folders["tf-h5 (converted to pt)"] = (out / "untied" / arch / "tf-h5-to-pt", "pt")
        for name, (folder, reader) in folders.items():
            cls = getattr(transformers, pt_name if reader == "pt" else flax_name)
            theirs = cls.from_pretrained(folder)
            (_, value), = outputs(theirs.eval() if reader == "pt" else theirs, reader, inputs).items()
            diff = float(np.abs(value - reference).max())
            check(f"transformers ({reader}) loads an untied {arch} saved by modelport ({name})", diff <= 1e-5,
                  f"max |diff| {diff:.2e}")


CLASSES = {
    "bert": ("BertModel", "TFBertModel", "FlaxBertModel"),
    "bert-mlm": ("BertForMaskedLM", "TFBertForMaskedLM", "FlaxBertForMaskedLM"),
    "gpt2": ("GPT2LMHeadModel", "TFGPT2LMHeadModel", "FlaxGPT2LMHeadModel"),
}


def outputs(model, framework: str, inputs: dict) -> dict:
    if framework == "pt":
        import torch

        with torch.no_grad():
            result = model(**{k: torch.from_numpy(v) for k, v in inputs.items()})
    elif framework == "tf":
        import tensorflow as tf

        result = model(**{k: tf.constant(v) for k, v in inputs.items()}, training=False)
    else:
        result = model(**inputs)
    name = "pooler_output" if getattr(result, "pooler_output", None) is not None else (
        "logits" if getattr(result, "logits", None) is not None else "last_hidden_state")
    value = getattr(result, name)
    return {name: np.asarray(value.detach().numpy() if hasattr(value, "detach") else value)}


def check_weights(out: Path) -> None:
    """4. Weights written by modelport load in transformers' own classes and give the reference outputs."""
    from modelport_torch.serialization import write_bin

    plans = [
        # (source folder, framework, format, writer, shard size, transformers kwargs)
        ("pt-safetensors", "pt", "safetensors", None, None, {}),
        ("pt-safetensors", "pt", "safetensors", None, "20KB", {}),
        ("pt-safetensors", "pt", "bin", write_bin, None, {"use_safetensors": False}),
        ("pt-safetensors", "pt", "bin", write_bin, "20KB", {"use_safetensors": False}),
        ("tf-h5", "tf", "h5", None, None, {"use_safetensors": False}),
        ("tf-h5", "tf", "h5", None, "20KB", {"use_safetensors": False}),
        ("tf-safetensors", "tf", "safetensors", None, None, {}),
        ("tf-safetensors", "tf", "safetensors", None, "20KB", {}),
        ("flax-msgpack", "flax", "msgpack", None, None, {}),
        ("flax-msgpack", "flax", "msgpack", None, "20KB", {}),
        ("flax-safetensors", "flax", "safetensors", None, None, {}),
    ]
    for arch, classes in CLASSES.items():
        inputs = dict(np.load(GOLDEN / arch / "inputs.npz"))
        for source, framework, fmt, writer, shard, kwargs in plans:
            src = GOLDEN / arch / source
            ckpt = Checkpoint.open(src)
            target = out / "weights" / arch / f"{source}-{fmt}-{shard or 'single'}"
            scope = keras_h5.model_scope(src / "tf_model.h5") if fmt == "h5" else "tf_model"
            save_checkpoint(target, [(n, ckpt.lazy(n)) for n in ckpt], format=fmt, framework=framework,
                            max_shard_size=shard or "5GB", writer=writer, tf_scope=scope or "tf_model")
            shutil.copy(src / "config.json", target / "config.json")
            cls = getattr(transformers, classes[("pt", "tf", "flax").index(framework)])
            model = cls.from_pretrained(target, **kwargs)
            if framework == "pt":
                model.eval()
            got = outputs(model, framework, inputs)
            reference = np.load(GOLDEN / arch / f"outputs-{framework}.npz")
            (name, value), = got.items()
            diff = float(np.abs(value - reference[f"masked/{name}"]).max())
            check(f"transformers loads modelport {fmt} ({framework}, {shard or 'single'}) {arch}", diff <= 1e-5, f"max |diff| {diff:.2e}")


def _family_logits(model, framework: str, inputs: dict) -> np.ndarray:
    if framework == "pt":
        import torch

        with torch.no_grad():
            return model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()
    if framework == "tf":
        import tensorflow as tf

        return model(**{k: tf.constant(v) for k, v in inputs.items()}, training=False).logits.numpy()
    return np.asarray(model(**inputs).logits)


def check_llama_family(out: Path) -> None:
    """9. The Llama family: modelport's conversions of each golden PyTorch checkpoint into transformers' native formats
    load in transformers' own class of that framework (PyTorch; Flax Llama, Mistral, Gemma; TF Mistral) and give
    exactly the logits that class gives on the original weights (their own behaviour, quirks included)."""
    import json

    folder = GOLDEN / "llama-family"
    manifest = json.loads((folder / "manifest.json").read_text())
    flax_classes = {"LlamaForCausalLM": "FlaxLlamaForCausalLM", "MistralForCausalLM": "FlaxMistralForCausalLM",
                    "GemmaForCausalLM": "FlaxGemmaForCausalLM"}
    tf_classes = {"MistralForCausalLM": "TFMistralForCausalLM"}
    count, worst = 0, 0.0
    for case, spec in manifest["cases"].items():
        source = folder / case / "pt-safetensors"
        inputs = dict(np.load(folder / case / "inputs.npz"))
        targets = [("pt", spec["class"], "native"), ("pt", spec["class"], "safetensors")]
        for framework, classes in (("flax", flax_classes), ("tf", tf_classes)):  # where transformers' class holds the model
            if spec["class"] in classes and not spec["other_frameworks"].get(framework, "").startswith("skipped"):
                targets.append((framework, classes[spec["class"]], "native"))
        for to, class_name, fmt in targets:
            target = out / "llama-family" / case / f"{to}-{fmt}"
            report = modelport.convert(source, target, to=to, format=fmt, progress=False)
            cls = getattr(transformers, class_name)
            kwargs = {} if to == "pt" else {"from_pt": True}
            reference = _family_logits(cls.from_pretrained(source, **kwargs), to, inputs)
            loaded = cls.from_pretrained(target)
            got = _family_logits(loaded.eval() if to == "pt" else loaded, to, inputs)
            diff = float(np.abs(got - reference).max())
            worst, count = max(worst, diff), count + 1
            if not (report.ok and diff == 0.0):
                check(f"llama family {case} -> {to} {fmt} in {class_name}", False, f"max |diff| {diff:.2e} {report.summary()}")
    check(f"transformers loads {count} Llama-family conversions with identical logits", count >= 20, f"max |diff| {worst:.2e}")


def _head_outputs(model, framework: str, inputs: dict, names: list[str]) -> dict[str, np.ndarray]:
    if framework == "pt":
        import torch

        with torch.no_grad():
            result = model.eval()(**{k: torch.from_numpy(v) for k, v in inputs.items()})
    elif framework == "tf":
        result = model(inputs, training=False)
    else:
        result = model(**inputs)
    return {name: np.asarray(getattr(result, name).detach().numpy() if framework == "pt" else getattr(result, name))
            for name in names}


def _own_outputs(folder: Path, reader: str, class_name: str, inputs: dict, reference: dict, cache: dict) -> dict:
    """What transformers' class of ``reader``'s framework gives on the file it wrote itself (its TF and Flax classes
    differ from its PyTorch ones by up to about 1e-5 on T5): the outputs a save of the same weights must reproduce.
    transformers' PyTorch outputs where it wrote no file in that framework."""
    own = {"pt": None, "tf": "tf-h5", "flax": "flax-msgpack"}[reader]
    if own is None or not (folder / own).exists():
        return reference
    key = (folder.name, reader)
    if key not in cache:
        model = getattr(transformers, {"tf": "TF", "flax": "Flax"}[reader] + class_name).from_pretrained(folder / own)
        cache[key] = _head_outputs(model, reader, inputs, list(reference))
    return cache[key]


def check_heads(out: Path) -> None:
    """10. The task heads' golden models (the BERT family, ViT, T5) saved by each modelport adapter, native and
    canonical, single and sharded, load in transformers' classes with the outputs transformers' class of that
    framework gives on its own file (its PyTorch outputs for the PyTorch class; canonical safetensors are read by the
    PyTorch class: transformers' TF classes cannot read them, and its Flax classes read them only with from_pt)."""
    import modelport_flax
    import modelport_tf
    import modelport_torch

    heads = GOLDEN / "heads"
    adapters = {"pt": modelport_torch, "tf": modelport_tf, "flax": modelport_flax}
    prefixes = {"pt": "", "tf": "TF", "flax": "Flax"}
    count, worst = 0, 0.0
    own_outputs: dict = {}
    for case, spec in sorted(json.loads((heads / "manifest.json").read_text())["models"].items()):
        class_name = spec["class"]
        inputs = dict(np.load(heads / case / "inputs.npz"))
        reference = {k.split("/", 1)[1]: v for k, v in np.load(heads / case / "outputs-pt.npz").items() if k.startswith("masked/")}
        for framework, module in adapters.items():
            ours = getattr(module, prefixes[framework] + class_name).from_pretrained(heads / case / "pt-safetensors")
            # native: PyTorch safetensors, TF h5, Flax msgpack
            for kind, safe in (("native", framework == "pt"), ("canonical", True)):
                for shard in ("5GB", "20KB"):
                    target = out / "heads" / case / framework / f"{kind}-{shard}"
                    ours.save_pretrained(target, max_shard_size=shard, safe_serialization=safe)
                    reader = "pt" if kind == "canonical" else framework
                    if not hasattr(transformers, prefixes[reader] + class_name):
                        continue  # transformers has no Flax CamemBERT: its canonical save is checked in PyTorch
                    theirs = getattr(transformers, prefixes[reader] + class_name).from_pretrained(target)
                    got = _head_outputs(theirs, reader, inputs, list(reference))
                    want = _own_outputs(heads / case, reader, class_name, inputs, reference, own_outputs)
                    diff = max(float(np.abs(got[n] - want[n]).max()) for n in reference)
                    worst, count = max(worst, diff), count + 1
                    if diff > 1e-5:
                        check(f"transformers ({reader}) loads modelport_{framework} {case} ({kind}, {shard})", False,
                              f"max |diff| {diff:.2e}")
    check(f"transformers loads {count} task-head saves with its own outputs", count >= 560, f"max |diff| {worst:.2e}")


if __name__ == "__main__":
    sys.exit(main())
