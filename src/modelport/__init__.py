"""modelport: one pretrained model, every framework.

The core is framework-neutral: it reads and writes configs and checkpoints with
numpy alone. Framework adapters (``modelport-torch``, ``modelport-tf``,
``modelport-flax``) register under the ``modelport.adapters`` entry point.
"""

from . import adapters, errors
from .auto import CONFIG_MAPPING, AutoConfig
from .config import CONFIG_NAME, PretrainedConfig
from .dtypes import canonical_dtype
from .errors import ModelportError
from .models import BertConfig, GPT2Config

__version__ = "0.1.0"

__all__ = [
    "AutoConfig",
    "BertConfig",
    "CONFIG_MAPPING",
    "CONFIG_NAME",
    "GPT2Config",
    "ModelportError",
    "PretrainedConfig",
    "__version__",
    "adapters",
    "canonical_dtype",
    "convert",
    "errors",
]


def __getattr__(name: str):  # PEP 562: the converter loads on first use
    if name == "convert":
        from .conversion.converter import convert

        return convert
    raise AttributeError(f"module 'modelport' has no attribute {name!r}")
