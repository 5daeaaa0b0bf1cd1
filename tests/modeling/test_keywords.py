"""The transformers 4.x keyword contract: every refused keyword is refused by name in every adapter, aliases and
ignored keywords warn, unknown keywords are refused, and docs/keywords.md is the table the code applies."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport import adapters
from modelport.errors import UnsupportedKeywordError
from modelport.modeling.keywords import FRAMEWORKS, KEYWORDS, REFUSED, Keyword, keywords_page

from _support.golden import GOLDEN as GOLDEN_DATA

DOCS = Path(__file__).resolve().parents[2] / "docs" / "keywords.md"
GOLDEN = GOLDEN_DATA / "bert" / "pt-safetensors"
ADAPTER_OF = {"pt": "torch", "tf": "tf", "flax": "flax"}


def test_the_docs_table_is_the_one_the_code_applies():
    assert DOCS.read_text() == keywords_page(), (
        "docs/keywords.md is stale: python -c \"from modelport.modeling.keywords import keywords_page; "
        "print(keywords_page(), end='')\" > docs/keywords.md")


def _refused_value(row: Keyword):
    """A value the row refuses (refused rows may accept values that ask for what modelport does anyway)."""
    return next(v for v in (True, "sdpa", False, {"": "meta", "x": "cpu"}) if not row.accepts(v))


def _cases(method: str) -> list:
    return [pytest.param(fw, row, id=f"{ADAPTER_OF[fw]}-{row.name}") for row in KEYWORDS if row.method == method
            for fw in FRAMEWORKS if row.action(fw) == REFUSED]


def _model_class(framework: str):
    if ADAPTER_OF[framework] not in adapters.available():
        pytest.skip(f"the {ADAPTER_OF[framework]} adapter is not installed")
    from modelport import AutoConfig

    return adapters.get(ADAPTER_OF[framework]).model_class(AutoConfig.from_pretrained(GOLDEN))


@pytest.mark.parametrize("framework,row", _cases("from_pretrained"))
def test_every_refused_loading_keyword_is_refused_by_name(framework, row):
    value = _refused_value(row)
    with pytest.raises(UnsupportedKeywordError, match=row.name) as caught:
        _model_class(framework).from_pretrained(GOLDEN, **{row.name: value})
    assert "docs" in str(caught.value) or caught.value.fix  # it says what to do instead


_SAVED: dict[str, object] = {}


def _model(framework: str):
    if framework not in _SAVED:
        _SAVED[framework] = _model_class(framework).from_pretrained(GOLDEN)
    return _SAVED[framework]


@pytest.mark.parametrize("framework,row", _cases("save_pretrained"))
def test_every_refused_saving_keyword_is_refused_by_name(tmp_path, framework, row):
    with pytest.raises(UnsupportedKeywordError, match=row.name):
        _model(framework).save_pretrained(tmp_path / "out", **{row.name: _refused_value(row)})
    assert not (tmp_path / "out").exists()  # refused before anything is written


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_unknown_keywords_are_refused_by_name(tmp_path, framework):
    with pytest.raises(UnsupportedKeywordError, match="not_a_keyword"):
        _model_class(framework).from_pretrained(GOLDEN, not_a_keyword=1)
    with pytest.raises(UnsupportedKeywordError, match="not_a_keyword"):
        _model(framework).save_pretrained(tmp_path, not_a_keyword=1)
    with pytest.raises(UnsupportedKeywordError, match="not_a_keyword"):
        _model(framework).push_to_hub("user/repo", not_a_keyword=1)


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_deprecated_keywords_warn_and_behave_as_in_transformers(framework):
    cls = _model_class(framework)
    with pytest.warns(FutureWarning, match="use_auth_token"):
        model = cls.from_pretrained(GOLDEN, use_auth_token=None)
    assert type(model).__name__.endswith("BertModel")
    with pytest.warns(UserWarning, match="resume_download"):
        cls.from_pretrained(GOLDEN, resume_download=True)
    with pytest.raises(UnsupportedKeywordError, match="both use_auth_token and token"):
        cls.from_pretrained(GOLDEN, use_auth_token="a", token="b")


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_config_attributes_still_override_the_config(framework):
    model = _model_class(framework).from_pretrained(GOLDEN, layer_norm_eps=1e-3)
    assert model.config.layer_norm_eps == 1e-3


def test_accepted_values_of_refused_keywords_load(tmp_path):
    cls = _model_class("pt")
    model = cls.from_pretrained(GOLDEN, trust_remote_code=False, attn_implementation="eager", low_cpu_mem_usage=True,
                                weights_only=True, device_map="auto", torch_dtype="float32")
    assert str(model.device) in ("cpu", "cuda:0")


@pytest.mark.parametrize("framework", list(FRAMEWORKS))
def test_can_generate_tells_the_truth(framework):
    encoder = _model(framework)  # skips when the adapter is absent
    lm = adapters.get(ADAPTER_OF[framework]).load_model(GOLDEN_DATA / "gpt2" / "pt-safetensors")
    for model in (encoder, lm):
        assert model.can_generate() == callable(getattr(model, "generate", None))
    assert not encoder.can_generate()
    assert lm.can_generate()
