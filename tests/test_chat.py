"""Chat templates (modelport.chat): rendered as transformers renders them, in jinja2's sandbox."""

from __future__ import annotations

import pytest

from modelport.chat import render_chat
from modelport.errors import ModelportError

pytest.importorskip("jinja2")

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def test_a_chatml_template_writes_the_turns_and_opens_the_assistants():
    text = render_chat(CHATML, [{"role": "user", "content": "Hi?"}], add_generation_prompt=True)
    assert text == "<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n"
    assert render_chat(CHATML, [{"role": "user", "content": "Hi?"}], add_generation_prompt=False).endswith("<|im_end|>\n")


@pytest.mark.parametrize("template", ["{{ ''.__class__.__mro__[1].__subclasses__() }}", "{{ messages.append(1) }}",
                                      "{% for x in %}"])
def test_a_hostile_or_broken_template_is_refused_naming_the_file(template):
    with pytest.raises(ModelportError) as caught:
        render_chat(template, [{"role": "user", "content": "x"}], where="model.gguf")
    assert "model.gguf" in str(caught.value) and "chat template" in str(caught.value)
