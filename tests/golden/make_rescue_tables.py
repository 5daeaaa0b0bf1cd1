"""Write modelport's architecture tables (src/modelport/conversion/architectures/*.json) from transformers 4.57.6.

For every TF and Flax class transformers has (``rescue_models.cases()``), a tiny random model is built,
perturbed and saved. transformers' own cross-loader (``load_tf2_model_in_pytorch_model``,
``load_flax_weights_in_pytorch_model``) fills the paired PyTorch class, and the result counts as the
truth only if it reproduces the source's outputs within 1e-4. Each PyTorch tensor is then found among the
stored tensors by value (under any axes order), and what modelport's generic name rules get wrong becomes
the table's exceptions: renames, layouts, size-1 axes, dropped tensors, added buffers and computed weights.

    nox -s golden_rescue [-- MODEL_TYPE_OR_CLASS ...]

Run in the golden environment. A model type given on the command line updates only its table.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import re
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from rescue_models import Case, as_saved, build, compare, iter_cases, pytorch_inputs, source_outputs  # noqa: E402

from modelport.checkpoint import Checkpoint  # noqa: E402
from modelport.conversion.architectures import CONFIG_VALUE, VALUE_KINDS, NameRules  # noqa: E402
from modelport.conversion.plan import plan_conversion, transform  # noqa: E402

TABLES = Path(__file__).parents[2] / "src" / "modelport" / "conversion" / "architectures"
EVIDENCE = Path(__file__).parent / "data" / "rescue-problems.json"
TOLERANCE = 1e-4
#: config attributes preferred when naming the size of a computed weight
SIZE_NAMES = ("max_position_embeddings", "d_model", "hidden_size", "num_attention_heads", "vocab_size")


def reference(case: Case, model: Any, config: Any, inputs: dict[str, np.ndarray]) -> tuple[Any, float]:
    """transformers' PyTorch class filled by transformers' own cross-loader, and its largest output difference."""
    import torch
    import transformers
    from transformers.modeling_flax_pytorch_utils import load_flax_weights_in_pytorch_model
    from transformers.modeling_tf_pytorch_utils import load_tf2_model_in_pytorch_model

    pytorch = getattr(transformers, case.pytorch_class)(config)
    try:
        if case.framework == "tf":
            pytorch = load_tf2_model_in_pytorch_model(pytorch, model)
        else:
            pytorch = load_flax_weights_in_pytorch_model(pytorch, model.params)
    except Exception:  # noqa: BLE001 - transformers' loader fails for some classes: the generic rules are tried next
        return pytorch, float("inf")
    pytorch.eval()
    with torch.no_grad():
        diffs = compare(source_outputs(model, inputs, case), pytorch(**pytorch_inputs(inputs, case)))
    return pytorch, max(diffs.values()) if diffs else float("inf")


def generic_reference(case: Case, model: Any, config: Any, inputs: dict[str, np.ndarray],
                      tensors: dict[str, np.ndarray]) -> tuple[Any, float]:
    """The PyTorch class holding ``tensors`` (what PyTorch lacks keeps its initial value), and its output difference."""
    import torch
    import transformers

    pytorch = getattr(transformers, case.pytorch_class)(config)
    state = pytorch.state_dict()
    fitting = {}
    for name, array in tensors.items():
        if name in state and [d for d in state[name].shape if d != 1] == [d for d in array.shape if d != 1]:
            fitting[name] = torch.from_numpy(np.ascontiguousarray(array).reshape(tuple(state[name].shape)))
    pytorch.load_state_dict(fitting, strict=False)
    pytorch.eval()
    with torch.no_grad():
        diffs = compare(source_outputs(model, inputs, case), pytorch(**pytorch_inputs(inputs, case)))
    return pytorch, max(diffs.values()) if diffs else float("inf")


def without_inner_prefix(tensors: dict[str, np.ndarray], pytorch_names: set[str]) -> dict[str, np.ndarray]:
    """``tensors`` renamed where leaving one inner name component out gives a PyTorch name (``encoder.bert.x`` ->
    ``encoder.x``); empty when no name changes."""
    renamed, changed = {}, False
    for name, array in tensors.items():
        parts = name.split(".")
        shorter = [".".join(parts[:i] + parts[i + 1:]) for i in range(1, len(parts) - 1)]
        match = next((candidate for candidate in shorter if candidate in pytorch_names and name not in pytorch_names), None)
        renamed[match or name] = array
        changed = changed or match is not None
    return renamed if changed else {}


def untied_weights(case: Case, config: Any, generic: dict[str, tuple[Any, np.ndarray]]) -> list[dict[str, str]]:
    """Weights PyTorch ties (shared storage while tie_word_embeddings is true) that the source stores apart, with other
    values: ``[{"weight": derived name, "to": the name it copies}]``."""
    import transformers

    pytorch = getattr(transformers, case.pytorch_class)(config)
    derived = [re.compile(pattern) for pattern in (getattr(pytorch, "_tied_weights_keys", None) or [])]
    apart = copy.deepcopy(config)
    apart.tie_word_embeddings = False
    untied = getattr(transformers, case.pytorch_class)(apart).state_dict()
    groups: dict[int, list[str]] = {}
    for key, tensor in pytorch.state_dict().items():
        if tensor.numel():
            groups.setdefault(tensor.data_ptr(), []).append(key)
    found = []
    for group in groups.values():
        stored = [k for k in group if k in generic]
        if len(stored) < 2 or len({untied[k].data_ptr() for k in stored}) < 2:
            continue  # not tied, or tied whatever the flag says (ALBERT's decoder bias is its head's bias)
        copies = [k for k in stored if any(p.search(k) for p in derived)]
        origins = [k for k in stored if k not in copies]
        for copy_name in copies:
            if origins and not np.array_equal(generic[copy_name][1], generic[origins[0]][1]):
                found.append({"weight": copy_name, "to": origins[0]})
    return found


def generalise(name: str) -> tuple[str, list[str]]:
    """A regex matching ``name`` with any layer numbers, and the numbers it captures, in order."""
    parts, numbers = [], []
    for part in name.split("."):
        if part.isdigit():
            parts.append(r"(\d+)")
            numbers.append(part)
        else:
            parts.append(re.escape(part))
    return "^" + r"\.".join(parts) + "$", numbers


def replacement(target: str, numbers: list[str]) -> str:
    """``target`` with each number the source name captured (in order, each used once) as a group reference."""
    out, used = [], 0
    for part in target.split("."):
        if part.isdigit() and used < len(numbers) and numbers[used] == part:
            used += 1
            out.append(f"\\{used}")
        else:
            out.append(part.replace("\\", "\\\\"))
    return ".".join(out)


def permutations_equal(stored: np.ndarray, wanted: np.ndarray) -> tuple[int, ...] | None:
    """The axes order taking ``stored`` to ``wanted`` (size-1 axes aside), or None."""
    if stored.size != wanted.size or stored.dtype.kind != wanted.dtype.kind:
        return None
    squeezed = [d for d in wanted.shape if d != 1]
    for order in itertools.permutations(range(stored.ndim)):
        moved = stored.transpose(order)
        if [d for d in moved.shape if d != 1] == squeezed and np.array_equal(moved.reshape(wanted.shape), wanted):
            return order
    return None


def unit_axes(shape: tuple[int, ...]) -> list[int]:
    return [i for i, d in enumerate(shape) if d == 1]


def size_names(config: Any, shape: tuple[int, ...]) -> list[str | int]:
    """Each size of ``shape`` as the config attribute that gives it (``hidden_size``), or a quotient of two
    (``hidden_size/num_attention_heads``, RoFormer's per-head tables); a bare number only when nothing gives it."""
    values = {k: v for k, v in config.to_dict().items() if isinstance(v, int) and not isinstance(v, bool) and v > 0}
    preferred = [k for k in SIZE_NAMES if k in values] + sorted(k for k in values if k not in SIZE_NAMES)
    names: list[str | int] = []
    for dim in shape:
        direct = [k for k in preferred if values[k] == dim]
        ratios = [f"{a}/{b}" for a in preferred for b in preferred
                  if a != b and values[a] % values[b] == 0 and values[a] // values[b] == dim and values[b] > 1]
        names.append((direct or ratios or [dim])[0])
    return names


def analyse(case: Case, root: Path) -> dict[str, Any]:
    """What this class's conversion needs beyond the generic rules (a fragment of its model type's table)."""
    import torch

    model, config, inputs = build(case)
    folder = root / case.source_class
    model.save_pretrained(folder)
    model = as_saved(model, folder, case)
    truth, difference = reference(case, model, config, inputs)
    fragment: dict[str, Any] = {"renames": {}, "layouts": {}, "unit_axes": {}, "dropped": {}, "buffers": {}, "computed": [],
                                "unresolved": [], "reference_difference": difference, "truth": "transformers",
                                "base": case.pytorch_class in _base_classes(case)}
    ckpt = Checkpoint.open(folder)
    stored = {name: np.asarray(ckpt[name]) for name in ckpt}
    prefix = truth.base_model_prefix if fragment["base"] else ""
    plan = plan_conversion({n: a.shape for n, a in stored.items()}, ckpt.framework, None, "pt", names=NameRules(prefix=prefix))
    generic = {step.target: (step, transform(step, stored[step.source], ckpt.framework, "pt")) for step in plan.steps}
    canonical_of = {step.source: step.target for step in plan.steps}
    generic_of = {step.source: array for step, array in generic.values()}
    untied = untied_weights(case, config, generic)
    if untied:
        # the source keeps weights apart that PyTorch ties while tie_word_embeddings is true (TF XGLM's lm_head,
        # TF MobileBERT's decoder): the converter then writes both and sets the flag false; so does the truth
        fragment["ties"] = untied
        config = copy.deepcopy(config)
        config.tie_word_embeddings = False
        difference = float("inf")
    if not difference <= TOLERANCE:
        # transformers' own cross-loader is wrong for this class: the truth is then the PyTorch class holding the
        # generic rules' tensors, if (and only if) it reproduces the source's outputs
        truth, difference = generic_reference(case, model, config, inputs, {k: a for k, (_, a) in generic.items()})
        fragment.update(truth="modelport's generic rules", generic_difference=difference)
        if not difference <= TOLERANCE:
            # composite TF models name each part's main layer too (encoder/bert/embeddings/...): the generic names with
            # one inner component left out, where that is a PyTorch name, accepted only if the outputs then match
            nested = without_inner_prefix({k: a for k, (_, a) in generic.items()}, set(truth.state_dict()))
            if nested:
                truth, nested_difference = generic_reference(case, model, config, inputs, nested)
                if nested_difference <= TOLERANCE:
                    difference = nested_difference
                    fragment.update(truth="the generic rules, each part's main layer left out", generic_difference=difference)
        if not difference <= TOLERANCE:
            fragment["outputs_differ"] = (f"neither transformers' cross-loader ({fragment['reference_difference']:.3g}) "
                                          f"nor the generic rules ({difference:.3g}) reproduce the outputs")
    wanted = {k: v.detach().numpy() for k, v in truth.state_dict(keep_vars=False).items()}
    groups: dict[int, list[str]] = {}  # tied weights share storage: one of each group must be given
    for key, tensor in truth.state_dict().items():
        groups.setdefault(tensor.data_ptr() if tensor.numel() else id(tensor), []).append(key)
    used: set[str] = set()
    for group in groups.values():
        given = [k for k in group if k in generic and generic[k][1].shape == wanted[k].shape
                 and np.array_equal(generic[k][1], wanted[k])]
        if given:
            used.update(generic[k][0].source for k in given)
            continue
        key = group[0]
        value = wanted[key]
        if key in generic and np.array_equal(generic[key][1].reshape(-1), value.reshape(-1)):
            fragment["unit_axes"][generalise(key)[0]] = unit_axes(value.shape)
            used.add(generic[key][0].source)
            continue
        if key.endswith(".num_batches_tracked") and key[: -len("num_batches_tracked")] + "running_mean" in wanted:
            # before the search by value: a zero counter would match any stored zero (EfficientFormer's index buffers)
            fragment["buffers"][r"^(.*)\.running_mean$"] = r"\1.num_batches_tracked"
            continue
        found = _find_by_value(stored, value, used) if value.size > 1 or value.dtype.kind == "f" else None
        if found is not None:
            source, order = found
            used.add(source)
            source_name = canonical_of[source]
            if source_name != key:
                pattern, numbers = generalise(source_name)
                fragment["renames"][pattern] = replacement(key, numbers)
            natural = generic_of.get(source)
            if natural is None or not np.array_equal(natural.reshape(-1), value.reshape(-1)):
                fragment["layouts"][generalise(key)[0]] = list(order)
                natural = stored[source].transpose(order)
            if tuple(natural.shape) != tuple(value.shape):
                fragment["unit_axes"][generalise(key)[0]] = unit_axes(value.shape)
            continue
        kind = next((k for k, make in VALUE_KINDS.items() if _made_equal(make, value)), None)
        if kind is not None:
            fragment["computed"].append({"name": key, "kind": kind, "shape": size_names(config, value.shape),
                                         "dtype": str(value.dtype)})
            continue
        attribute = _config_value_of(config, value)
        if attribute is not None:  # a weight the source never saves and reloads at a config value
            fragment["computed"].append({"name": key, "kind": CONFIG_VALUE, "value": attribute,
                                         "shape": size_names(config, value.shape), "dtype": str(value.dtype)})
            continue
        fragment["unresolved"].append(f"{key}: no stored tensor holds its value")
    for source in stored:
        if source in used:
            continue
        name = canonical_of.get(source, source)
        if name in wanted:  # TF ALBERT's head keeps a bias its own computation never reads (it adds decoder/bias)
            why = f"{case.source_class} stores it but never reads it; {case.pytorch_class}'s {name} comes from another weight"
        else:
            why = f"{case.pytorch_class} has no such weight"
        fragment["dropped"][generalise(name)[0]] = why
    if "outputs_differ" in fragment:  # the evidence: were all of PyTorch's weights found among the stored ones?
        fragment["unresolved"].append(fragment["outputs_differ"] + (
            ", although every PyTorch weight holds a stored tensor (the two classes give different outputs from the same weights)"
            if not fragment["unresolved"] else ""))
    del torch
    return fragment


def _made_equal(make: Any, value: np.ndarray) -> bool:
    try:
        made = make(tuple(value.shape))
    except (ValueError, TypeError):
        return False
    return made.shape == value.shape and made.dtype == value.dtype and np.array_equal(made, value)


def _config_value_of(config: Any, value: np.ndarray) -> str | None:
    """The one top-level numeric config attribute every element of ``value`` equals (in ``value``'s dtype), if any."""
    if value.dtype.kind != "f" or value.size == 0 or not np.all(value == value.flat[0]):
        return None
    matching = [name for name, attribute in sorted(vars(config).items())
                if isinstance(attribute, (int, float)) and not isinstance(attribute, bool)
                and value.dtype.type(attribute) == value.flat[0]]
    return matching[0] if len(matching) == 1 else None


def _find_by_value(stored: dict[str, np.ndarray], value: np.ndarray, used: set[str]) -> tuple[str, tuple[int, ...]] | None:
    for name, array in stored.items():
        if name in used or array.size != value.size:
            continue
        order = permutations_equal(array, value)
        if order is not None:
            return name, order
    return None


def _base_classes(case: Case) -> list[str]:
    """The bare base models of the case's model type (Funnel has two: FunnelModel and FunnelBaseModel)."""
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    base = MODEL_MAPPING_NAMES.get(case.model_type, "")
    return [base] if isinstance(base, str) else list(base)


def _base_class(case: Case) -> str:
    return (_base_classes(case) or [""])[0]


def rules_of(fragment: dict[str, Any]) -> dict[str, Any]:
    """One class's rules for one source framework, as the table stores them (empty kinds left out)."""
    rules = {
        "renames": [{"match": k, "to": v} for k, v in sorted(fragment["renames"].items())],
        "layouts": [{"match": k, "order": v} for k, v in sorted(fragment["layouts"].items())],
        "unit_axes": [{"match": k, "axes": v} for k, v in sorted(fragment["unit_axes"].items())],
        "dropped": [{"match": k, "why": v} for k, v in sorted(fragment["dropped"].items())],
        "buffers": [{"beside": k, "name": v, "kind": "zero_count"} for k, v in sorted(fragment["buffers"].items())],
        "ties": fragment.get("ties", []),
        "computed": fragment["computed"],
    }
    return {kind: value for kind, value in rules.items() if value}


def merge(model_type: str, results: dict[Case, dict[str, Any]]) -> dict[str, Any]:
    """One model type's table: each saved class with its PyTorch class and, per source framework, its rules. Rules
    are kept per class and framework, never shared: a rename one head needs may be wrong for another."""
    import transformers

    table: dict[str, Any] = {"model_type": model_type, "generated_by": "transformers 4.57.6, tests/golden/make_rescue_tables.py"}
    base = _base_class(next(iter(results)))
    table["base_model_prefix"] = getattr(getattr(transformers, base), "base_model_prefix", "") if base else ""
    classes: dict[str, Any] = {}
    for case, fragment in sorted(results.items(), key=lambda item: item[0].source_class):
        saved = case.source_class.removeprefix("TF").removeprefix("Flax")  # what save_pretrained writes in architectures
        entry = classes.setdefault(saved, {"pytorch": case.pytorch_class})
        if fragment.get("base"):
            entry["base"] = True
        rules = rules_of(fragment)
        if rules:
            entry[case.framework] = rules
    table["classes"] = dict(sorted(classes.items()))
    return table


def main(selected: list[str]) -> None:
    import tensorflow as tf
    import transformers

    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    logging.disable(logging.WARNING)
    by_type: dict[str, dict[Case, dict[str, Any]]] = {}
    problems: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in iter_cases(selected):
            try:
                fragment = analyse(case, Path(tmp))
            except Exception as exc:  # noqa: BLE001 - every class is tried; failures are listed at the end
                problems[case.source_class] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                print(f"{case.source_class}: {problems[case.source_class]}", flush=True)
                continue
            finally:
                tf.keras.backend.clear_session()
            if fragment["unresolved"]:
                problems[case.source_class] = "; ".join(fragment["unresolved"])[:300]
            by_type.setdefault(case.model_type, {})[case] = fragment
            print(f"{case.source_class}: reference {fragment['reference_difference']:.2g}",
                  *(f"{k}={v}" for k, v in fragment.items() if v and k not in ("reference_difference", "base")), flush=True)
    TABLES.mkdir(parents=True, exist_ok=True)
    for model_type, results in sorted(by_type.items()):
        good = {c: f for c, f in results.items() if c.source_class not in problems}
        table = merge(model_type, good) if good else {}
        if table.get("classes"):
            (TABLES / f"{model_type}.json").write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    # the evidence for every class without a table entry (docs/conversion.md); a partial run updates its classes' entries
    known = json.loads(EVIDENCE.read_text()) if selected and EVIDENCE.is_file() else {}
    rerun = {case.source_class for case in iter_cases(selected)}
    known = {name: why for name, why in known.items() if name not in rerun}
    EVIDENCE.write_text(json.dumps({**known, **problems}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(problems, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
