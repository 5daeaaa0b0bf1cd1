"""modelport: one pretrained model, every framework.

The core is framework-neutral: it reads and writes configs and checkpoints with
numpy alone. Framework adapters (``modelport-torch``, ``modelport-tf``,
``modelport-flax``) register under the ``modelport.adapters`` entry point.
"""

from ._platform import check_platform

check_platform()  # before anything else: a clear ImportError on Windows, not a missing os.preadv mid-load

from . import adapters, errors  # noqa: E402
from .auto import CONFIG_MAPPING, AutoConfig  # noqa: E402
from .config import CONFIG_NAME, PretrainedConfig  # noqa: E402
from .dtypes import canonical_dtype  # noqa: E402
from .errors import ModelportError  # noqa: E402
from .generation import GenerationConfig  # noqa: E402
from .models import (  # noqa: E402
    AlbertConfig,
    BertConfig,
    CamembertConfig,
    DistilBertConfig,
    ElectraConfig,
    GemmaConfig,
    GPT2Config,
    LlamaConfig,
    MistralConfig,
    Qwen2Config,
    RobertaConfig,
    T5Config,
    ViTConfig,
    XLMRobertaConfig,
)

__version__ = "0.1.0"

__all__ = [
    "AutoConfig",
    "BertConfig",
    "RobertaConfig",
    "XLMRobertaConfig",
    "CamembertConfig",
    "DistilBertConfig",
    "AlbertConfig",
    "ElectraConfig",
    "ViTConfig",
    "T5Config",
    "Checkpoint",
    "CONFIG_MAPPING",
    "CONFIG_NAME",
    "GemmaConfig",
    "GenerationConfig",
    "GPT2Config",
    "LlamaConfig",
    "MistralConfig",
    "ModelportError",
    "PretrainedConfig",
    "Qwen2Config",
    "__version__",
    "adapters",
    "canonical_dtype",
    "convert",
    "errors",
    "save_checkpoint",
]


#: names loaded on first use (PEP 562), so that ``import modelport`` stays light: name -> module
_LAZY = {"convert": ".conversion.converter", "Checkpoint": ".checkpoint", "save_checkpoint": ".saving"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'modelport' has no attribute {name!r}")
