"""OpenAI-compatible chat completions and image generations (Google's compatibility endpoint, aggregators).

`base_url` includes the version path (`http://host/v1`). Gemini-only settings that OpenAI's schema has no
field for travel in `extra_body.google`, as Google's endpoint documents: `thinking_config` (only when thought
summaries are asked for, since it may not be sent with `reasoning_effort`), `image_config`, and
`generation_config` for `media_resolution`. `top_k` is not sent. Replies are read by `openai_reply.py`.
"""

from __future__ import annotations

import base64
import mimetypes
import posixpath
from dataclasses import replace
from typing import Any, Literal
from urllib.parse import urlsplit

from pipeline.errors import ReplyInvalid
from pipeline.records import (
    FileSlice,
    GenerationSettings,
    HttpRequest,
    HttpResponse,
    Part,
    Prompt,
    Reply,
    Usage,
)

from ._base import ProviderBase
from ._batch import (
    METADATA_KEY,
    OPENAI_ENDPOINT,
    BatchLine,
    RemoteBatch,
    multipart_frame,
    openai_batch,
    openai_line,
)
from ._credentials import Credentials
from ._errors_map import read_error_body
from ._gemini_wire import encode, media_resolution, requested_tier, wants_image
from ._openai_reply import parse_chat_reply, parse_images_reply
from ._schema import decode_reply_body

__all__ = (
    "OpenAIProvider",
    "audio_format",
    "chat_body",
    "content_part",
    "image_size",
    "images_body",
)

_AUDIO_FORMATS = {
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/x-aiff": "aiff", "audio/x-flac": "flac",
    "audio/mp4": "m4a", "audio/x-m4a": "m4a",
}  # fmt: skip
_IMAGE_SIDES = {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}


class OpenAIProvider(ProviderBase):
    """POST `{base_url}/chat/completions` (or `/images/generations`) with `Authorization: Bearer <key>`.

    :param image_endpoint: "images" sends text-only prompts to the images API; "chat" asks chat completions for
        `modalities: ["image", "text"]` when an image is wanted.
    """

    kind = "openai"
    supports_batch = True
    batch_max_rows: int | None = (
        50_000  # OpenAI's limit of requests per batch, which aggregators follow
    )

    def __init__(
        self,
        *,
        model: str,
        credentials: Credentials,
        base_url: str,
        image_endpoint: Literal["chat", "images"] = "chat",
    ) -> None:
        super().__init__(model=model, credentials=credentials)
        base = base_url.rstrip("/")
        self.image_endpoint = image_endpoint
        self.dialect = dialect_for(base)
        self._chat_url = f"{base}/chat/completions"
        self._images_url = f"{base}/images/generations"
        self._models_url = f"{base}/models"
        self._base = base

    def _to_images_api(self, prompt: Prompt) -> bool:
        return self.image_endpoint == "images" and all(
            part.text is not None for part in prompt.parts
        )

    def build(self, prompt: Prompt, *, timeout_s: float | None = None) -> HttpRequest:
        model = prompt.model or self.model
        if self._to_images_api(prompt):
            return HttpRequest(
                "POST",
                self._images_url,
                self._headers(),
                encode(images_body(prompt, model, self.dialect)),
                timeout_s,
            )
        return HttpRequest(
            "POST",
            self._chat_url,
            self._headers(),
            encode(chat_body(prompt, model, self.dialect)),
            timeout_s,
        )

    def parse(self, response: HttpResponse, prompt: Prompt) -> Reply:
        if response.status == 400:
            refusal = read_error_body(response.body)
            if refusal.code == "content_policy_violation":
                # OpenAI's images API (and some aggregators' chat) refuse a prompt this way: the safety filter's
                # verdict, final like a `content_filter` finish reason, not an error worth retrying.
                return Reply(
                    "blocked",
                    Usage(),
                    error_code="CONTENT_FILTER",
                    error_message=f"the prompt was refused by a filter ({refusal.message})",
                )
        self._raise_for_status(response)
        if self._to_images_api(prompt):
            return parse_images_reply(response.body, prompt)
        reply = parse_chat_reply(response.body, prompt)
        header = response.headers.get("x-gemini-service-tier")
        if reply.service_tier is None and header:
            # Google's endpoint names the served tier in this header even when the body does not.
            reply = replace(reply, service_tier=header.strip().lower())
        return reply

    def build_list_models(self, page_token: str | None = None) -> HttpRequest:
        """GET {base_url}/models: OpenAI's list has one page."""
        return HttpRequest("GET", self._models_url, self._headers(json_body=False))

    def parse_list_models(self, response: HttpResponse) -> tuple[list[str], str | None]:
        self._raise_for_status(response)
        doc = decode_reply_body(response.body)
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, list):
            raise ReplyInvalid("the model list has no `data`", code="INVALID_JSON")
        names = [
            entry["id"].removeprefix(
                "models/"
            )  # Google's compatible endpoint says "models/..."
            for entry in data
            if isinstance(entry, dict) and isinstance(entry.get("id"), str)
        ]
        return names, None

    # OpenAI's Batch API, where an endpoint offers it (`/files` with purpose "batch", `/batches`). Lines go to
    # chat completions: an image model with image_endpoint = "images" is refused by the spec check upstream.

    def build_batch_line(self, prompt: Prompt) -> bytes:
        return openai_line(prompt.row_id, chat_body(prompt, prompt.model or self.model))

    def batch_file_frame(self, display_name: str) -> tuple[bytes, bytes]:
        head, tail, _ = multipart_frame(display_name)
        return head, tail

    def build_batch_file_upload(
        self, body: FileSlice, display_name: str
    ) -> HttpRequest:
        _, _, content_type = multipart_frame(display_name)
        headers = {**self._headers(json_body=False), "content-type": content_type}
        return HttpRequest("POST", f"{self._base}/files", headers, body)

    def parse_batch_file_upload(self, response: HttpResponse) -> str:
        self._raise_for_status(response, "batch")
        doc = decode_reply_body(response.body)
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
            raise ReplyInvalid("the file upload reply has no id", code="INVALID_JSON")
        return str(doc["id"])

    def build_batch_create(self, *, input_file: str, display_name: str) -> HttpRequest:
        body = {
            "input_file_id": input_file,
            "endpoint": OPENAI_ENDPOINT,
            "completion_window": "24h",
            "metadata": {METADATA_KEY: display_name},
        }
        return HttpRequest(
            "POST", f"{self._base}/batches", self._headers(), encode(body)
        )

    def parse_batch(self, response: HttpResponse) -> RemoteBatch:
        self._raise_for_status(response, "batch")
        return openai_batch(decode_reply_body(response.body))

    def build_batch_get(self, name: str) -> HttpRequest:
        return HttpRequest(
            "GET", f"{self._base}/batches/{name}", self._headers(json_body=False)
        )

    def build_batch_list(self, page_token: str | None = None) -> HttpRequest:
        after = f"&after={page_token}" if page_token else ""
        return HttpRequest(
            "GET",
            f"{self._base}/batches?limit=100{after}",
            self._headers(json_body=False),
        )

    def parse_batch_list(
        self, response: HttpResponse
    ) -> tuple[list[RemoteBatch], str | None]:
        self._raise_for_status(response, "batch")
        doc = decode_reply_body(response.body)
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, list):
            raise ReplyInvalid("the batch list has no `data`", code="INVALID_JSON")
        jobs = [openai_batch(item) for item in data if isinstance(item, dict)]
        more = isinstance(doc, dict) and doc.get("has_more") is True
        return jobs, (jobs[-1].name if more and jobs else None)

    def build_batch_cancel(self, name: str) -> HttpRequest:
        return HttpRequest(
            "POST", f"{self._base}/batches/{name}/cancel", self._headers(), b"{}"
        )

    def build_batch_download(self, file_name: str) -> HttpRequest:
        return HttpRequest(
            "GET",
            f"{self._base}/files/{file_name}/content",
            self._headers(json_body=False),
        )

    def build_batch_delete_input(self, file_name: str) -> HttpRequest:
        return HttpRequest(
            "DELETE", f"{self._base}/files/{file_name}", self._headers(json_body=False)
        )

    def parse_batch_reply(self, line: BatchLine, prompt: Prompt) -> Reply:
        if line.status != 200:
            raise self._batch_error(line)
        return parse_chat_reply(encode(line.body), prompt)


Dialect = Literal["google", "openai"]


def dialect_for(base_url: str) -> Dialect:
    """Google's compatibility layer (`.../v1beta/openai`, or any googleapis.com host) speaks its documented
    dialect; every other OpenAI-compatible server gets plain OpenAI."""
    parts = urlsplit(base_url)
    google = "/v1beta/openai" in parts.path or (parts.hostname or "").endswith(
        "googleapis.com"
    )
    return "google" if google else "openai"


def chat_body(
    prompt: Prompt, model: str, dialect: Dialect = "google"
) -> dict[str, Any]:
    """The chat completions body. `dialect` "google" adds Gemini's settings under `extra_body.google` as Google
    documents; "openai" sends only OpenAI's own keys."""
    settings = prompt.generation
    messages: list[dict[str, Any]] = []
    if prompt.system:
        messages.append({"role": "system", "content": prompt.system})
    messages.append(
        {"role": "user", "content": [content_part(part) for part in prompt.parts]}
    )
    body: dict[str, Any] = {"model": model, "messages": messages}
    for key, value in (
        ("max_completion_tokens", settings.max_output_tokens),
        ("temperature", settings.temperature),
        ("top_p", settings.top_p),
        ("seed", settings.seed),
    ):
        if value is not None:
            body[key] = value
    if settings.stop_sequences:
        body["stop"] = list(settings.stop_sequences)
    if settings.response_schema is not None:
        schema = {
            "name": "response",
            "schema": settings.response_schema,
            "strict": True,
        }
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif settings.wants_json:
        body["response_format"] = {"type": "json_object"}
    if settings.tools:
        body["tools"] = [
            {"type": "function", "function": _function(tool)} for tool in settings.tools
        ]
    choice = tool_choice(settings)
    if choice is not None:
        body["tool_choice"] = choice
    google_dialect = dialect == "google"
    if settings.thinking_level and not (settings.include_thoughts and google_dialect):
        body["reasoning_effort"] = settings.thinking_level
    if wants_image(settings, model):
        body["modalities"] = ["image", "text"]
    tier = requested_tier(settings)
    if tier is not None:
        body["service_tier"] = (
            tier  # "matches OpenAI's service_tier parameter in name and logic"
        )
    google = _google_extras(prompt)
    if not google_dialect:
        # Plain OpenAI (aggregators): Gemini-only settings (thought summaries, media resolution) are not sent.
        # The image config is the exception: chat completions have no size field, and the resellers of Gemini's
        # image models take it under `extra_body.google`, as Google's layer does.
        if google:
            body["extra_body"] = {"google": google}
        return body
    if settings.media_resolution:
        # A generationConfig field in Gemini's format, so it travels in google.generation_config.
        google["generation_config"] = {
            "media_resolution": media_resolution(settings.media_resolution)
        }
    if settings.include_thoughts:
        # reasoning_effort and thinking_config may not both be set (a 400): thought summaries need
        # thinking_config, so the level goes there too.
        thinking: dict[str, Any] = {}
        if settings.thinking_level:
            thinking["thinking_level"] = settings.thinking_level
        thinking["include_thoughts"] = True
        google["thinking_config"] = thinking
    if google:
        body["extra_body"] = {"google": google}
    return body


def tool_choice(settings: GenerationSettings) -> str | dict[str, Any] | None:
    """`tool_choice` for `[generation] tool_config`: AUTO -> "auto", NONE -> "none", ANY -> "required" (or that one
    function when exactly one is allowed). VALIDATED (Gemini's schema-checked calls) has no OpenAI equivalent and
    goes as "auto" (or "required" with allowed names, the closest meaning)."""
    mode, names = settings.function_calling_mode, settings.allowed_function_names
    if mode is None:
        return None
    if mode == "NONE":
        return "none"
    if mode == "AUTO" or (mode == "VALIDATED" and not names):
        return "auto"
    if len(names) == 1:
        return {"type": "function", "function": {"name": names[0]}}
    return "required"


def images_body(
    prompt: Prompt, model: str, dialect: Dialect = "google"
) -> dict[str, Any]:
    texts = [part.text for part in prompt.parts if part.text]
    text = "\n\n".join([prompt.system, *texts] if prompt.system else texts)
    body: dict[str, Any] = {"model": model, "prompt": text, "n": 1}
    size = image_size(
        prompt.generation.image_size, prompt.generation.image_aspect_ratio
    )
    if size is not None:
        body["size"] = size
    body["response_format"] = "b64_json"
    google = _google_extras(prompt)  # as on chat: the image config in Google's nesting
    if google:
        body["extra_body"] = {"google": google}
    return body


def _google_extras(prompt: Prompt) -> dict[str, Any]:
    settings = prompt.generation
    config = {
        key: value
        for key, value in (
            ("aspect_ratio", settings.image_aspect_ratio),
            ("image_size", settings.image_size),
        )
        if value is not None
    }
    return {"image_config": config} if config else {}


def image_size(size: str | None, aspect_ratio: str | None) -> str | None:
    """ "2K" at "16:9" -> "2048x1152": the long side from the size, the other from the ratio (multiples of 16)."""
    if size is None and aspect_ratio is None:
        return None
    side = _IMAGE_SIDES.get(size or "1K", 1024)
    wide, high = (int(n) for n in (aspect_ratio or "1:1").split(":"))
    if wide >= high:
        return f"{side}x{round(side * high / wide / 16) * 16}"
    return f"{round(side * wide / high / 16) * 16}x{side}"


def content_part(part: Part) -> dict[str, Any]:
    mime = part.mime_type or "application/octet-stream"
    if part.data is not None:
        data = base64.b64encode(part.data).decode("ascii")
        if mime.startswith("image/"):
            return {
                "type": "image_url",
                "image_url": {"url": f"data:{mime};base64,{data}"},
            }
        if mime.startswith("audio/"):
            return {
                "type": "input_audio",
                "input_audio": {"data": data, "format": audio_format(mime)},
            }
        file = {
            "filename": _filename(part, mime),
            "file_data": f"data:{mime};base64,{data}",
        }
        return {"type": "file", "file": file}
    if part.file_uri is not None:
        if mime.startswith("image/"):
            return {"type": "image_url", "image_url": {"url": part.file_uri}}
        return {"type": "file", "file": {"file_id": part.file_uri}}
    return {"type": "text", "text": part.text or ""}


def audio_format(mime: str) -> str:
    """ "audio/mpeg" -> "mp3", "audio/x-wav" -> "wav"; otherwise the subtype ("audio/flac" -> "flac")."""
    return _AUDIO_FORMATS.get(mime, mime.split("/", 1)[-1].removeprefix("x-"))


def _filename(part: Part, mime: str) -> str:
    if part.source_path:
        return posixpath.basename(part.source_path.replace("\\", "/"))
    return "document" + (mimetypes.guess_extension(mime) or "")


def _function(tool: Any) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("parameters") is not None:
        function["parameters"] = tool["parameters"]
    return function
