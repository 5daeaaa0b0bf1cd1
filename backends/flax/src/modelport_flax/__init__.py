"""modelport's JAX/Flax adapter.

Importing this package is cheap: jax is imported only when a name that
needs it is used, so the core's registry can read the adapter class without
loading the framework.
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "FlaxAdapter": ".adapter",
    "FlaxPreTrainedModel": ".modeling",
    "FlaxBertModel": ".models",
    "FlaxBertForMaskedLM": ".models",
    "FlaxBertForSequenceClassification": ".models",
    "FlaxBertForTokenClassification": ".models",
    "FlaxBertForQuestionAnswering": ".models",
    "FlaxRobertaModel": ".models",
    "FlaxRobertaForMaskedLM": ".models",
    "FlaxRobertaForSequenceClassification": ".models",
    "FlaxRobertaForTokenClassification": ".models",
    "FlaxRobertaForQuestionAnswering": ".models",
    "FlaxXLMRobertaModel": ".models",
    "FlaxXLMRobertaForMaskedLM": ".models",
    "FlaxXLMRobertaForSequenceClassification": ".models",
    "FlaxXLMRobertaForTokenClassification": ".models",
    "FlaxXLMRobertaForQuestionAnswering": ".models",
    "FlaxCamembertModel": ".models",
    "FlaxCamembertForMaskedLM": ".models",
    "FlaxCamembertForSequenceClassification": ".models",
    "FlaxCamembertForTokenClassification": ".models",
    "FlaxCamembertForQuestionAnswering": ".models",
    "FlaxDistilBertModel": ".models",
    "FlaxDistilBertForMaskedLM": ".models",
    "FlaxDistilBertForSequenceClassification": ".models",
    "FlaxDistilBertForTokenClassification": ".models",
    "FlaxDistilBertForQuestionAnswering": ".models",
    "FlaxAlbertModel": ".models",
    "FlaxAlbertForMaskedLM": ".models",
    "FlaxAlbertForSequenceClassification": ".models",
    "FlaxAlbertForTokenClassification": ".models",
    "FlaxAlbertForQuestionAnswering": ".models",
    "FlaxElectraModel": ".models",
    "FlaxElectraForPreTraining": ".models",
    "FlaxElectraForMaskedLM": ".models",
    "FlaxElectraForSequenceClassification": ".models",
    "FlaxElectraForTokenClassification": ".models",
    "FlaxElectraForQuestionAnswering": ".models",
    "FlaxViTModel": ".models",
    "FlaxT5Model": ".models",
    "FlaxT5ForConditionalGeneration": ".models",
    "FlaxT5EncoderModel": ".models",
    "FlaxViTForImageClassification": ".models",
    "FlaxGPT2Model": ".models",
    "FlaxGPT2LMHeadModel": ".models",
    "FlaxLlamaModel": ".models",
    "FlaxLlamaForCausalLM": ".models",
    "FlaxLlamaForSequenceClassification": ".models",
    "FlaxMistralModel": ".models",
    "FlaxMistralForCausalLM": ".models",
    "FlaxMistralForSequenceClassification": ".models",
    "FlaxQwen2Model": ".models",
    "FlaxQwen2ForCausalLM": ".models",
    "FlaxQwen2ForSequenceClassification": ".models",
    "FlaxGemmaModel": ".models",
    "FlaxGemmaForCausalLM": ".models",
    "FlaxGemmaForSequenceClassification": ".models",
    "FlaxAutoModel": ".auto",
    "FlaxAutoModelForMaskedLM": ".auto",
    "FlaxAutoModelForCausalLM": ".auto",
    "FlaxAutoModelForSequenceClassification": ".auto",
    "FlaxAutoModelForTokenClassification": ".auto",
    "FlaxAutoModelForQuestionAnswering": ".auto",
    "FlaxAutoModelForPreTraining": ".auto",
    "FlaxAutoModelForImageClassification": ".auto",
    "FlaxAutoModelForSeq2SeqLM": ".auto",
    "FlaxAutoModelForTextEncoding": ".auto",
    "load_flax_sharded_weights": ".modeling",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):  # PEP 562: keep `import modelport_flax` free of jax
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'modelport_flax' has no attribute {name!r}")
