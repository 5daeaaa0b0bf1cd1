"""modelport's TensorFlow / Keras 3 adapter.

Importing this package is cheap: tensorflow and keras are imported only when a
name that needs them is used, so the core's registry can read the adapter
class without loading the framework.
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "TFAdapter": ".adapter",
    "TFPreTrainedModel": ".modeling",
    "TFModelUtilsMixin": ".modeling",
    "TFBertModel": ".models",
    "TFBertForMaskedLM": ".models",
    "TFBertForSequenceClassification": ".models",
    "TFBertForTokenClassification": ".models",
    "TFBertForQuestionAnswering": ".models",
    "TFRobertaModel": ".models",
    "TFRobertaForMaskedLM": ".models",
    "TFRobertaForSequenceClassification": ".models",
    "TFRobertaForTokenClassification": ".models",
    "TFRobertaForQuestionAnswering": ".models",
    "TFXLMRobertaModel": ".models",
    "TFXLMRobertaForMaskedLM": ".models",
    "TFXLMRobertaForSequenceClassification": ".models",
    "TFXLMRobertaForTokenClassification": ".models",
    "TFXLMRobertaForQuestionAnswering": ".models",
    "TFCamembertModel": ".models",
    "TFCamembertForMaskedLM": ".models",
    "TFCamembertForSequenceClassification": ".models",
    "TFCamembertForTokenClassification": ".models",
    "TFCamembertForQuestionAnswering": ".models",
    "TFDistilBertModel": ".models",
    "TFDistilBertForMaskedLM": ".models",
    "TFDistilBertForSequenceClassification": ".models",
    "TFDistilBertForTokenClassification": ".models",
    "TFDistilBertForQuestionAnswering": ".models",
    "TFAlbertModel": ".models",
    "TFAlbertForMaskedLM": ".models",
    "TFAlbertForSequenceClassification": ".models",
    "TFAlbertForTokenClassification": ".models",
    "TFAlbertForQuestionAnswering": ".models",
    "TFElectraModel": ".models",
    "TFElectraForPreTraining": ".models",
    "TFElectraForMaskedLM": ".models",
    "TFElectraForSequenceClassification": ".models",
    "TFElectraForTokenClassification": ".models",
    "TFElectraForQuestionAnswering": ".models",
    "TFViTModel": ".models",
    "TFT5Model": ".models",
    "TFT5ForConditionalGeneration": ".models",
    "TFT5EncoderModel": ".models",
    "TFViTForImageClassification": ".models",
    "TFGPT2Model": ".models",
    "TFGPT2LMHeadModel": ".models",
    "TFLlamaModel": ".models",
    "TFLlamaForCausalLM": ".models",
    "TFLlamaForSequenceClassification": ".models",
    "TFMistralModel": ".models",
    "TFMistralForCausalLM": ".models",
    "TFMistralForSequenceClassification": ".models",
    "TFQwen2Model": ".models",
    "TFQwen2ForCausalLM": ".models",
    "TFQwen2ForSequenceClassification": ".models",
    "TFGemmaModel": ".models",
    "TFGemmaForCausalLM": ".models",
    "TFGemmaForSequenceClassification": ".models",
    "TFAutoModel": ".auto",
    "TFAutoModelForMaskedLM": ".auto",
    "TFAutoModelForCausalLM": ".auto",
    "TFAutoModelForSequenceClassification": ".auto",
    "TFAutoModelForTokenClassification": ".auto",
    "TFAutoModelForQuestionAnswering": ".auto",
    "TFAutoModelForPreTraining": ".auto",
    "TFAutoModelForImageClassification": ".auto",
    "TFAutoModelForSeq2SeqLM": ".auto",
    "TFAutoModelForTextEncoding": ".auto",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):  # PEP 562: keep `import modelport_tf` free of tensorflow
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'modelport_tf' has no attribute {name!r}")
