"""OpenAI-compatible replies -> `Reply`: chat completions and image generations.

Usage is mapped so that `output_tokens` excludes thinking, as Gemini reports it. Google's compatibility
endpoint leaves thinking out of `completion_tokens` and shows it only in `total_tokens` (reference section 11),
while servers that report `completion_tokens_details.reasoning_tokens` include it in `completion_tokens`.

Generated images are billed at the image rate, ten times the text rate. A reply whose usage does not itemise
its image tokens (Google's compatibility endpoint gives no details; some images APIs give no usage at all) gets
the published count per image (`image_tokens`), so its cost is not understated tenfold.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from pipeline.catalog import image_tokens
from pipeline.errors import ReplyInvalid
from pipeline.records import GeneratedImage, Prompt, Reply, Usage

from ._gemini_wire import decode_image_base64, judge
from ._schema import decode_reply_body, to_json
from ._schema import to_int as _int


def _object(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: replies from resellers leave fields out freely."""
    return value if isinstance(value, dict) else {}


def usage_from(usage: object) -> Usage:
    """OpenAI usage -> Usage, split into input / output / thinking that add up to `total_tokens`.

    Every shape we know of:
    - OpenAI: `completion_tokens` includes `completion_tokens_details.reasoning_tokens`; total = prompt + completion.
    - Some aggregators: `completion_tokens` EXCLUDES the reasoning they report in the details; total = prompt +
      completion + reasoning. (Read as OpenAI's shape, these replies came out as zero output tokens.)
    - Google's endpoint: no details; thinking only in `total_tokens` (total = prompt + completion + thinking).
    - No details and total = prompt + completion: no thinking.
    The total tells the first two apart; without a total, reasoning larger than the completion cannot be inside it.
    """
    if not isinstance(usage, dict):
        return Usage()
    prompt, completion, total = (
        _int(usage.get(k))
        for k in ("prompt_tokens", "completion_tokens", "total_tokens")
    )
    prompt_details = usage.get("prompt_tokens_details")
    details = _object(usage.get("completion_tokens_details"))
    if details.get("reasoning_tokens") is not None:
        thinking = _int(details.get("reasoning_tokens"))
        outside = (
            total == prompt + completion + thinking if total else thinking > completion
        )
        output = completion if outside else max(0, completion - thinking)
    else:
        thinking = max(0, total - prompt - completion)
        output = completion
    return Usage(
        input_tokens=prompt,
        output_tokens=output,
        thinking_tokens=thinking,
        cached_tokens=_int(prompt_details.get("cached_tokens"))
        if isinstance(prompt_details, dict)
        else 0,
        total_tokens=total or prompt + output + thinking,
        image_output_tokens=_int(details.get("image_tokens")),
    )


def _with_image_tokens(usage: Usage, images: int, prompt: Prompt | None) -> Usage:
    """`usage` with `image_output_tokens` filled in from the catalog's counts when the server left it out."""
    if not images or usage.image_output_tokens:
        return usage
    model = prompt.model if prompt is not None else ""
    size = prompt.generation.image_size if prompt is not None else None
    return replace(usage, image_output_tokens=images * image_tokens(model, size))


# OpenAI finish reasons in Gemini's names, for `gemini_wire.judge`.
_FINISH = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "function_call": "STOP",
    "length": "MAX_TOKENS",
}


def parse_chat_reply(raw: bytes, prompt: Prompt) -> Reply:
    """A 2xx chat completion -> Reply, judged by the same rules as a Gemini reply.

    :raises ReplyInvalid: as `gemini_wire.parse_reply`, plus MALFORMED_FUNCTION_CALL when a tool call's
        arguments are not JSON.
    """
    doc = decode_reply_body(raw)
    if not isinstance(doc, dict):
        raise ReplyInvalid("the reply is JSON but not an object", code="INVALID_JSON")
    usage = usage_from(doc.get("usage"))
    choices = doc.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ReplyInvalid("the reply has no choices", code="EMPTY_REPLY", usage=usage)
    choice = choices[0]
    message = _object(choice.get("message"))
    finish = (
        choice.get("finish_reason")
        if isinstance(choice.get("finish_reason"), str)
        else None
    )
    texts: list[str] = []
    images: list[GeneratedImage] = []
    content = message.get("content")
    if isinstance(content, str):
        texts.append(content)
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif part.get("type") == "image_url":
            images.extend(_data_url_image(part.get("image_url"), usage))
    for entry in message.get("images") or ():
        if isinstance(entry, dict):
            images.extend(_data_url_image(entry.get("image_url"), usage))
    calls = [
        _call(call, usage)
        for call in message.get("tool_calls") or ()
        if isinstance(call, dict)
    ]
    model = doc.get("model")
    reply = Reply(
        status="ok",
        usage=_with_image_tokens(usage, len(images), prompt),
        text="".join(texts) or None,
        images=tuple(images),
        function_calls=to_json(calls) if calls else None,
        finish_reason=finish,
        model_version=model if isinstance(model, str) else None,
        service_tier=_service_tier(doc.get("service_tier")),
    )
    gemini_finish = _FINISH.get(finish, finish.upper()) if finish else None
    return judge(reply, prompt.generation, gemini_finish, model=prompt.model)


def _service_tier(value: object) -> str | None:
    """OpenAI's `service_tier` ("default" is its name for standard; Google's endpoint uses OpenAI's names)."""
    if not isinstance(value, str) or not value.strip():
        return None
    name = value.strip().lower()
    return "standard" if name in ("default", "auto") else name


def parse_images_reply(raw: bytes, prompt: Prompt | None = None) -> Reply:
    """A 2xx `/images/generations` body -> Reply: `data[].b64_json` (or a `data:` URL in `data[].url`) as the
    images, `revised_prompt` as the text. No image is a `failed` NO_IMAGE row, never an `ok` one.

    :raises ReplyInvalid: INVALID_JSON / TRUNCATED (unreadable body), INVALID_IMAGE (bad base64).
    """
    doc = decode_reply_body(raw)
    if not isinstance(doc, dict):
        raise ReplyInvalid("the reply is JSON but not an object", code="INVALID_JSON")
    raw_usage = _object(doc.get("usage"))
    output = _int(raw_usage.get("output_tokens"))
    usage = Usage(
        input_tokens=_int(raw_usage.get("input_tokens")), output_tokens=output,
        total_tokens=_int(raw_usage.get("total_tokens")), image_output_tokens=output,
    )  # fmt: skip
    images: list[GeneratedImage] = []
    texts: list[str] = []
    entries = doc.get("data")
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("b64_json"), str):
            data = decode_image_base64(entry["b64_json"], usage)
            images.append(GeneratedImage(mime_type=_sniff_image(data), data=data))
        else:
            images.extend(_data_url_image(entry.get("url"), usage))
        if isinstance(entry.get("revised_prompt"), str) and entry["revised_prompt"]:
            texts.append(entry["revised_prompt"])
    text = "\n\n".join(texts) or None
    if not images:
        return Reply(
            status="failed",
            usage=usage,
            text=text,
            error_code="NO_IMAGE",
            error_message="an image was asked for and the reply has none",
        )
    usage = _with_image_tokens(usage, len(images), prompt)
    return Reply(status="ok", usage=usage, text=text, images=tuple(images))


def _call(call: dict[str, Any], usage: Usage) -> dict[str, Any]:
    function = _object(call.get("function"))
    arguments = function.get("arguments")
    try:
        args = (
            json.loads(arguments)
            if isinstance(arguments, str) and arguments.strip()
            else arguments or {}
        )
    except ValueError:
        raise ReplyInvalid(
            f"the arguments of function call {function.get('name')!r} are not JSON",
            code="MALFORMED_FUNCTION_CALL",
            usage=usage,
        ) from None
    return {"name": function.get("name"), "args": args}


def _data_url_image(image_url: object, usage: Usage) -> list[GeneratedImage]:
    """A `data:image/png;base64,...` URL -> the image; a remote URL cannot be fetched here and is skipped."""
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        return []
    header, data = url[5:].split(";base64,", 1)
    decoded = decode_image_base64(data, usage)
    return [GeneratedImage(mime_type=header or _sniff_image(decoded), data=decoded)]


def _sniff_image(data: bytes) -> str:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/png"
