"""The transformers 4.x keyword contract of ``from_pretrained``, ``save_pretrained`` and ``push_to_hub``.

Every keyword of those methods on transformers 4.x's "Models" page (and the
ones its code reads from ``**kwargs``) has one row here, per framework: it is
*honoured* (the method does what transformers documents), an *alias* (renamed
with a ``FutureWarning``, as 4.57 does), *ignored* with a warning (deprecated
in 4.57 too), or *refused* with an :class:`~modelport.errors.UnsupportedKeywordError`
that names it and says what to do instead. Some refusals depend on the value
(``trust_remote_code=False`` is what modelport does anyway). No keyword is
swallowed in silence: :func:`check_keywords` runs first in every method, and
``docs/keywords.md`` is generated from these rows (a test keeps it current).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import UnsupportedKeywordError

__all__ = ["Keyword", "KEYWORDS", "check_keywords", "keywords_page", "FRAMEWORKS"]

HONOURED, ALIAS, IGNORED, REFUSED = "honoured", "alias", "ignored", "refused"
#: the frameworks whose base classes follow the contract, as they appear in the table
FRAMEWORKS = {"pt": "PyTorch", "tf": "TensorFlow", "flax": "Flax"}


@dataclass(frozen=True)
class Keyword:
    """One keyword of one method: what each framework's base class does with it."""

    name: str
    method: str
    what: str  # what modelport does (or what to do instead), for the error and the docs
    actions: Mapping[str, str] = field(default_factory=lambda: dict.fromkeys(FRAMEWORKS, HONOURED))
    alias_of: str = ""
    #: for a refused keyword: values that are accepted all the same (they ask for what modelport does)
    accepts: Callable[[Any], bool] = field(default=lambda value: False, repr=False)
    accepted_values: str = ""  # the same, for the docs

    def action(self, framework: str) -> str:
        """What ``framework``'s base class does; frameworks adapters declare follow the PyTorch column."""
        return self.actions.get(framework, self.actions["pt"])


def _only(*frameworks: str) -> dict[str, str]:
    return {fw: (HONOURED if fw in frameworks else REFUSED) for fw in FRAMEWORKS}


def _all(action: str) -> dict[str, str]:
    return dict.fromkeys(FRAMEWORKS, action)


_LOAD, _SAVE, _PUSH = "from_pretrained", "save_pretrained", "push_to_hub"
_DISTRIBUTED = "loading across devices and processes is a later issue (big models); load on one device, then move the model"
_TORCH_DEVICE = "device_map: None, 'cpu', 'auto' (the first accelerator, else the CPU), a device string, or {'': device}"

KEYWORDS: tuple[Keyword, ...] = (
    # -- from_pretrained: where the files are
    Keyword("pretrained_model_name_or_path", _LOAD, "a local folder (or weights file) or a Hub repo id"),
    Keyword("model_args", _LOAD, "passed to the model class's constructor"),
    Keyword("config", _LOAD, "a config object, or a folder or repo id to read config.json from"),
    Keyword("cache_dir", _LOAD, "huggingface_hub's cache folder"),
    Keyword("force_download", _LOAD, "download again even when cached"),
    Keyword("local_files_only", _LOAD, "never reach the Hub (HF_HUB_OFFLINE=1 does the same)"),
    Keyword("token", _LOAD, "the Hub token (HF_TOKEN and the stored login are used otherwise)"),
    Keyword("use_auth_token", _LOAD, "deprecated name of token", actions=_all(ALIAS), alias_of="token"),
    Keyword("revision", _LOAD, "a branch, tag or commit; config and weights come from one commit"),
    Keyword("subfolder", _LOAD, "the config and every weights file are read from this folder of the repo"),
    Keyword("variant", _LOAD, "weights named model.VARIANT.safetensors (and so on)"),
    Keyword("use_safetensors", _LOAD, "True: safetensors only; False: never safetensors; None: either"),
    Keyword("from_pt", _LOAD, "load the PyTorch checkpoint (any framework's model loads any checkpoint)"),
    Keyword("from_tf", _LOAD, "load the TensorFlow checkpoint (tf_model.h5 or TF safetensors)"),
    Keyword("from_flax", _LOAD, "load the Flax checkpoint (flax_model.msgpack or Flax safetensors)"),
    Keyword("resume_download", _LOAD, "deprecated and without effect in transformers 4.57 too: downloads always resume",
            actions=_all(IGNORED)),
    Keyword("proxies", _LOAD, "huggingface_hub 1.x takes proxies from the environment: set HTTPS_PROXY / HTTP_PROXY",
            actions=_all(REFUSED)),
    Keyword("mirror", _LOAD, "removed from transformers; point HF_ENDPOINT at the mirror", actions=_all(REFUSED)),
    Keyword("trust_remote_code", _LOAD, "modelport never runs code from a repository; only its own model classes load",
            actions=_all(REFUSED), accepts=lambda v: not v, accepted_values="False, None"),
    # -- from_pretrained: what is built
    Keyword("state_dict", _LOAD, "weights given as a state dict instead of files", actions=_only("pt")),
    Keyword("ignore_mismatched_sizes", _LOAD, "keep the model's own weight where shapes differ (reported in mismatched_keys)"),
    Keyword("output_loading_info", _LOAD, "also return missing_keys, unexpected_keys, mismatched_keys and error_msgs"),
    Keyword("mmap", _LOAD, "modelport's own (not transformers'): False copies every tensor instead of mapping the file "
            "copy-on-write (default True; MODELPORT_MMAP=0 does the same)", actions=_only("pt"),
            accepts=lambda v: v is None, accepted_values="None"),
    Keyword("dtype", _LOAD, "PyTorch: the parameters' dtype ('auto': the config's or the checkpoint's); Flax: the "
            "computation dtype ('auto' likewise; params keep the checkpoint's); TensorFlow: every layer's Keras dtype "
            "policy, variables and computation ('auto' likewise)"),
    Keyword("torch_dtype", _LOAD, "the legacy name of dtype", actions={"pt": ALIAS, "tf": REFUSED, "flax": REFUSED},
            alias_of="dtype", accepts=lambda v: v is None, accepted_values="None"),
    Keyword("_do_init", _LOAD, "False: return (model, params) without random initialisation", actions=_only("flax")),
    Keyword("low_cpu_mem_usage", _LOAD, "always the case: tensors are read and assigned one at a time"),
    Keyword("weights_only", _LOAD, "always the case: .bin files are read by an allow-listed unpickler that never "
            "runs code", actions=_all(REFUSED), accepts=lambda v: v is None or bool(v), accepted_values="True, None"),
    Keyword("attn_implementation", _LOAD, "the models compute attention eagerly; pass 'eager' or leave it out",
            actions=_all(REFUSED), accepts=lambda v: v in (None, "eager"), accepted_values="None, 'eager'"),
    Keyword("device_map", _LOAD, _TORCH_DEVICE, actions={"pt": HONOURED, "tf": REFUSED, "flax": REFUSED},
            accepts=lambda v: v in (None, "cpu"), accepted_values="None, 'cpu'"),
    Keyword("max_memory", _LOAD, _DISTRIBUTED, actions=_all(REFUSED)),
    Keyword("tp_plan", _LOAD, "'auto' (the architecture's tensor-parallel rules) or {module pattern: 'colwise' | 'rowwise' | "
            "'colwise_rep' | ParallelStyle}: parameters become DTensors, each rank reading only its shards "
            "(docs/sharded.md)", actions=_only("pt"), accepts=lambda v: v is None, accepted_values="None"),
    Keyword("tp_size", _LOAD, _DISTRIBUTED, actions=_all(REFUSED), accepts=lambda v: v is None, accepted_values="None"),
    Keyword("device_mesh", _LOAD, "the DeviceMesh of tp_plan and fully_shard (default: a 1-D mesh of every torchrun process)",
            actions=_only("pt"), accepts=lambda v: v is None, accepted_values="None"),
    Keyword("fully_shard", _LOAD, "modelport's own: True wraps every repeated block and the model with FSDP2's fully_shard "
            "while on the meta device, each rank reading only its shards (docs/sharded.md)", actions=_only("pt"),
            accepts=lambda v: not v, accepted_values="False, None"),
    Keyword("mesh", _LOAD, "modelport's own: a jax.sharding.Mesh; every param comes back as a jax.Array sharded over "
            "it, each process reading only the blocks its devices hold (docs/sharded.md)", actions=_only("flax"),
            accepts=lambda v: v is None, accepted_values="None"),
    Keyword("partition_rules", _LOAD, "with mesh: 'tp', 'fsdp', (regex, PartitionSpec) pairs over the param paths, or a "
            "callable (path, shape) -> PartitionSpec", actions=_only("flax"), accepts=lambda v: v is None,
            accepted_values="None"),
    Keyword("distributed_config", _LOAD, _DISTRIBUTED, actions=_all(REFUSED)),
    Keyword("offload_folder", _LOAD, "no disk offloading: the model is loaded whole on one device", actions=_all(REFUSED)),
    Keyword("offload_buffers", _LOAD, "no disk offloading", actions=_all(REFUSED), accepts=lambda v: not v,
            accepted_values="False"),
    Keyword("offload_state_dict", _LOAD, "no disk offloading", actions=_all(REFUSED), accepts=lambda v: not v,
            accepted_values="False"),
    Keyword("quantization_config", _LOAD, "no quantised models: load in float and quantise with your framework's tools",
            actions=_all(REFUSED), accepts=lambda v: v is None, accepted_values="None"),
    Keyword("load_in_8bit", _LOAD, "no quantised models", actions=_all(REFUSED), accepts=lambda v: not v,
            accepted_values="False"),
    Keyword("load_in_4bit", _LOAD, "no quantised models", actions=_all(REFUSED), accepts=lambda v: not v,
            accepted_values="False"),
    Keyword("gguf_file", _LOAD, "a llama.cpp GGUF file in the folder or repo: its metadata gives the config, its tensors are "
            "dequantized to float32 with transformers' names (needs modelport[gguf])"),
    Keyword("key_mapping", _LOAD, "rename the checkpoint's tensors first (modelport convert reads transformers' "
            "names in every framework)", actions=_all(REFUSED), accepts=lambda v: not v, accepted_values="None"),
    Keyword("adapter_kwargs", _LOAD, "PEFT adapters are not loaded: load the base model, then apply the adapter with peft",
            actions=_all(REFUSED), accepts=lambda v: not v, accepted_values="None"),
    Keyword("adapter_name", _LOAD, "PEFT adapters are not loaded", actions=_all(REFUSED), accepts=lambda v: v is None,
            accepted_values="None"),
    Keyword("generation_config", _LOAD, "a GenerationConfig for generate(), instead of the checkpoint's "
            "generation_config.json"),
    Keyword("use_kernels", _LOAD, "no Hub kernels", actions=_all(REFUSED), accepts=lambda v: not v, accepted_values="False"),
    Keyword("use_flash_attention_2", _LOAD, "the models compute attention eagerly", actions=_all(REFUSED),
            accepts=lambda v: not v, accepted_values="False"),
    Keyword("tf_to_pt_weight_rename", _LOAD, "names are mapped by modelport's rules; rename the checkpoint first",
            actions=_all(REFUSED)),
    Keyword("load_weight_prefix", _LOAD, "TF names are read without the model scope in every layout",
            actions=_all(REFUSED)),
    # -- save_pretrained
    Keyword("save_directory", _SAVE, "the folder, created if needed; the save is crash-safe"),
    Keyword("is_main_process", _SAVE, "False: write nothing (the other processes of a distributed job)"),
    Keyword("state_dict", _SAVE, "save these tensors instead of the model's", actions=_only("pt")),
    Keyword("params", _SAVE, "save this params tree instead of the model's", actions=_only("flax")),
    Keyword("save_function", _SAVE, "writes each .bin shard (safe_serialization=False) instead of torch.save",
            actions=_only("pt")),
    Keyword("push_to_hub", _SAVE, "upload the folder in one commit after saving"),
    Keyword("max_shard_size", _SAVE, "shards of at most this size (\"5GB\", \"500MiB\", an int), with an index"),
    Keyword("safe_serialization", _SAVE, "True (default): model.safetensors in PyTorch's names and layouts, which "
            "every framework loads; False: the framework's own file (.bin, tf_model.h5, flax_model.msgpack)"),
    Keyword("variant", _SAVE, "weights named model.VARIANT.safetensors (and so on)"),
    Keyword("token", _SAVE, "the Hub token for push_to_hub"),
    Keyword("use_auth_token", _SAVE, "deprecated name of token", actions=_all(ALIAS), alias_of="token"),
    Keyword("save_peft_format", _SAVE, "no PEFT adapters in modelport models: nothing to convert", actions=_all(IGNORED)),
    Keyword("saved_model", _SAVE, "also export a SavedModel under saved_model/<version>", actions=_only("tf")),
    Keyword("version", _SAVE, "the SavedModel's version folder", actions=_only("tf")),
    Keyword("signatures", _SAVE, "the SavedModel's serving signatures", actions=_only("tf")),
    Keyword("layout", _SAVE, "modelport's own: 'tf' writes TF-named safetensors (the only safetensors transformers' "
            "TF classes read)", actions=_only("tf")),
    Keyword("create_pr", _SAVE, "push_to_hub opens a pull request instead of committing to the branch"),
    Keyword("repo_id", _SAVE, "push_to_hub's repository (default: the folder's name)"),
    Keyword("commit_message", _SAVE, "push_to_hub's commit message"),
    Keyword("commit_description", _SAVE, "push_to_hub's commit description"),
    Keyword("private", _SAVE, "push_to_hub creates the repository private"),
    Keyword("revision", _SAVE, "push_to_hub's branch (created if needed)"),
    Keyword("tags", _SAVE, "push_to_hub's model-card tags"),
    Keyword("save_config", _SAVE, "False: write the weights only, not config.json"),
    Keyword("ignore_metadata_errors", _SAVE, "model cards are always parsed strictly", actions=_all(REFUSED),
            accepts=lambda v: not v, accepted_values="False"),
    # -- push_to_hub
    Keyword("repo_id", _PUSH, "the repository, created if needed"),
    Keyword("use_temp_dir", _PUSH, "False: save into a local folder named after the repo before uploading"),
    Keyword("commit_message", _PUSH, "the commit message"),
    Keyword("commit_description", _PUSH, "the commit description"),
    Keyword("private", _PUSH, "create the repository private"),
    Keyword("token", _PUSH, "the Hub token"),
    Keyword("use_auth_token", _PUSH, "deprecated name of token", actions=_all(ALIAS), alias_of="token"),
    Keyword("max_shard_size", _PUSH, "passed to save_pretrained"),
    Keyword("create_pr", _PUSH, "open a pull request instead of committing to the branch"),
    Keyword("safe_serialization", _PUSH, "passed to save_pretrained"),
    Keyword("revision", _PUSH, "the branch to commit to (created if needed)"),
    Keyword("tags", _PUSH, "tags added to the model card"),
)

_BY_METHOD: dict[str, dict[str, Keyword]] = {}
for _row in KEYWORDS:
    _BY_METHOD.setdefault(_row.method, {})[_row.name] = _row


def check_keywords(method: str, framework: str, kwargs: dict[str, Any], where: str) -> dict[str, Any]:
    """Apply the contract to ``kwargs`` of ``method``: aliases renamed, ignored keywords dropped (each with a
    warning), refused ones raised; keywords not in the table are left for the caller (config overrides,
    model constructor arguments). Returns a new dict."""
    rows = _BY_METHOD[method]
    out = dict(kwargs)
    for name, value in kwargs.items():
        row = rows.get(name)
        if row is None:
            continue
        action = row.action(framework)
        if action == ALIAS:
            value = out.pop(name)
            if out.get(row.alias_of) is not None and value is not None:
                raise UnsupportedKeywordError(f"both {name} and {row.alias_of} were given", where=where,
                                              fix=f"Pass only {row.alias_of} ({name} is its deprecated name).")
            warnings.warn(f"{where}: `{name}` is deprecated; use `{row.alias_of}` instead.", FutureWarning, stacklevel=4)
            if value is not None:
                out[row.alias_of] = value
        elif action == IGNORED:
            out.pop(name)
            warnings.warn(f"{where}: `{name}` has no effect ({row.what}).", UserWarning, stacklevel=4)
        elif action == REFUSED:
            if not row.accepts(value):
                raise UnsupportedKeywordError(
                    f"the keyword {name!r} is not supported here", where=where, received=f"{name}={value!r}",
                    expected=(f"{name} in ({row.accepted_values}) or left out" if row.accepted_values else
                              f"no {name}"),
                    fix=row.what[:1].upper() + row.what[1:] + ".")
            out.pop(name)
    return out


_PAGE_HEAD = """# transformers 4.x keywords

Every keyword of `from_pretrained`, `save_pretrained` and `push_to_hub` on
transformers 4.x's "Models" page (and those its code reads from `**kwargs`),
and what modelport's PyTorch, TensorFlow and Flax base classes do with it:

- **honoured**: it does what transformers documents;
- **alias**: renamed with a `FutureWarning`, as transformers 4.57 does;
- **ignored**: dropped with a warning (deprecated and without effect in 4.57 too);
- **refused**: an `UnsupportedKeywordError` names the keyword and says what to do
  instead; "accepts" lists the values that ask for what modelport does anyway.

A keyword that is in none of these tables, is no attribute of the model's
config and no argument of its class is refused the same way: nothing is
swallowed in silence.

This page is generated from `modelport.modeling.keywords` (a test keeps it
current: `python -c "from modelport.modeling.keywords import keywords_page; print(keywords_page(), end='')" > docs/keywords.md`).

"""


def keywords_page() -> str:
    """The whole of docs/keywords.md."""
    lines = [_PAGE_HEAD.rstrip("\n"), ""]
    for method in (_LOAD, _SAVE, _PUSH):
        lines += [f"## `{method}`", "", "| keyword | " + " | ".join(FRAMEWORKS.values()) + " | what modelport does |",
                  "|---|" + "---|" * len(FRAMEWORKS) + "---|"]
        for row in _BY_METHOD[method].values():
            cells = []
            for fw in FRAMEWORKS:
                action = row.action(fw)
                if action == ALIAS:
                    action = f"alias of `{row.alias_of}`"
                elif action == REFUSED and row.accepted_values:
                    action = f"refused (accepts {row.accepted_values})"
                cells.append(action)
            lines.append(f"| `{row.name}` | " + " | ".join(cells) + f" | {row.what} |")
        lines.append("")
    return "\n".join(lines)
