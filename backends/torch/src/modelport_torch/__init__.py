"""modelport's PyTorch adapter.

Importing this package is cheap: torch is imported only when a name that
needs it is used, so the core's registry can read the adapter class without
loading the framework.
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "TorchAdapter": ".adapter",
    "PreTrainedModel": ".modeling",
    "ModuleUtilsMixin": ".modeling",
    "BertModel": ".models",
    "BertForMaskedLM": ".models",
    "BertForSequenceClassification": ".models",
    "BertForTokenClassification": ".models",
    "BertForQuestionAnswering": ".models",
    "RobertaModel": ".models",
    "RobertaForMaskedLM": ".models",
    "RobertaForSequenceClassification": ".models",
    "RobertaForTokenClassification": ".models",
    "RobertaForQuestionAnswering": ".models",
    "XLMRobertaModel": ".models",
    "XLMRobertaForMaskedLM": ".models",
    "XLMRobertaForSequenceClassification": ".models",
    "XLMRobertaForTokenClassification": ".models",
    "XLMRobertaForQuestionAnswering": ".models",
    "CamembertModel": ".models",
    "CamembertForMaskedLM": ".models",
    "CamembertForSequenceClassification": ".models",
    "CamembertForTokenClassification": ".models",
    "CamembertForQuestionAnswering": ".models",
    "DistilBertModel": ".models",
    "DistilBertForMaskedLM": ".models",
    "DistilBertForSequenceClassification": ".models",
    "DistilBertForTokenClassification": ".models",
    "DistilBertForQuestionAnswering": ".models",
    "AlbertModel": ".models",
    "AlbertForMaskedLM": ".models",
    "AlbertForSequenceClassification": ".models",
    "AlbertForTokenClassification": ".models",
    "AlbertForQuestionAnswering": ".models",
    "ElectraModel": ".models",
    "ElectraForPreTraining": ".models",
    "ElectraForMaskedLM": ".models",
    "ElectraForSequenceClassification": ".models",
    "ElectraForTokenClassification": ".models",
    "ElectraForQuestionAnswering": ".models",
    "ViTModel": ".models",
    "T5Model": ".models",
    "T5ForConditionalGeneration": ".models",
    "T5EncoderModel": ".models",
    "ViTForImageClassification": ".models",
    "GPT2Model": ".models",
    "GPT2LMHeadModel": ".models",
    "LlamaModel": ".models",
    "LlamaForCausalLM": ".models",
    "LlamaForSequenceClassification": ".models",
    "MistralModel": ".models",
    "MistralForCausalLM": ".models",
    "MistralForSequenceClassification": ".models",
    "Qwen2Model": ".models",
    "Qwen2ForCausalLM": ".models",
    "Qwen2ForSequenceClassification": ".models",
    "GemmaModel": ".models",
    "GemmaForCausalLM": ".models",
    "GemmaForSequenceClassification": ".models",
    "AutoModel": ".auto",
    "AutoModelForMaskedLM": ".auto",
    "AutoModelForCausalLM": ".auto",
    "AutoModelForSequenceClassification": ".auto",
    "AutoModelForTokenClassification": ".auto",
    "AutoModelForQuestionAnswering": ".auto",
    "AutoModelForPreTraining": ".auto",
    "AutoModelForImageClassification": ".auto",
    "AutoModelForSeq2SeqLM": ".auto",
    "AutoModelForTextEncoding": ".auto",
    "write_bin": ".serialization",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):  # PEP 562: keep `import modelport_torch` free of torch
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'modelport_torch' has no attribute {name!r}")
