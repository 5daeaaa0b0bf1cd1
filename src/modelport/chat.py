"""Chat prompts from a model's chat template (the Jinja text transformers and llama.cpp store with the tokenizer).

The template comes from a downloaded file, so it is rendered in jinja2's immutable sandbox: no attribute access
to Python internals, no file or module access. jinja2 is optional; it comes with torch.
"""

from __future__ import annotations

from typing import Any

from .errors import ModelportError

__all__ = ["render_chat"]


def render_chat(template: str, messages: list[dict[str, str]], *, add_generation_prompt: bool = True, where: str = "",
                **variables: Any) -> str:
    """``messages`` (``{"role", "content"}``) as the template writes them; with ``add_generation_prompt``, followed by
    the opening of the assistant's turn."""
    try:
        from jinja2.exceptions import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError as exc:
        raise ModelportError("rendering a chat template needs jinja2", where=where, fix="pip install jinja2") from exc
    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    try:
        return environment.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                                        **variables)
    except TemplateError as exc:
        raise ModelportError(f"the chat template cannot be rendered: {exc}", where=where,
                             fix="Check the file's tokenizer.chat_template.") from None
