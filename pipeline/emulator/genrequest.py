"""The request record: everything a reply depends on, whichever front door the request came through.

request.py builds it from a generateContent body, openai_request.py from a chat body; genconfig.py
and functioncalling.py fill in their parts of it, and synth.py generates the reply from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .models import ModelInfo

__all__ = ("GenRequest",)


@dataclass(slots=True)
class GenRequest:
    """Everything the reply depends on, whichever API the request came through."""

    model: ModelInfo
    last_user_text: str = ""
    all_text: list[str] = field(default_factory=list)
    prompt_details: dict[str, int] = field(default_factory=dict)
    input_images: int = 0
    max_output: int | None = None
    thinking_level: str | None = None  # resolved level, or None when a budget decides
    thinking_budget: int | None = None
    include_thoughts: bool = False
    json_mode: bool = False
    enum_mode: bool = False
    schema: Any = None  # JSON Schema (OpenAPI schemas are converted)
    functions: dict[str, Any] = field(default_factory=dict)
    function_mode: str = "AUTO"  # toolConfig.functionCallingConfig.mode
    allowed_functions: tuple[str, ...] = ()  # ...allowedFunctionNames (ANY, VALIDATED)
    text_out: bool = True
    image_out: bool = False
    aspect_ratio: str = "1:1"
    image_size: str = "1K"
    image_dims: tuple[int, int] | None = (
        None  # an exact size (OpenAI `size`), else from ratio and size class
    )
    image_count: int = 1
    stop: list[str] = field(default_factory=list)
    # Context caching (not part of the reply key: a cached prefix gets the same reply as an inline one).
    # the generate body parsed (cache merged in); its layout depends on the front door, so it takes no
    # part in comparing two requests either
    source: Any = field(default=None, repr=False, compare=False)
    # tokens by modality of each part: the contents' parts in order, then the system instruction's
    part_tokens: list[dict[str, int]] = field(default_factory=list, repr=False)
    cache_details: dict[str, int] = field(default_factory=dict, repr=False)
    implicit_cache: bool = field(default=False, repr=False)

    @property
    def cached_tokens(self) -> int:
        return sum(self.cache_details.values())

    @property
    def prompt_tokens(self) -> int:
        return sum(self.prompt_details.values())
