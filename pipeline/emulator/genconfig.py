"""generationConfig checks: sampling values, output limit, thinking, output format, modalities, images.

Each check raises the 400 the service sends; what passes is written into the `GenRequest`.
"""

from __future__ import annotations

from typing import Any

from . import normalize as n
from .apierror import bad_value, invalid
from .genrequest import GenRequest

__all__ = ("check_generation_config",)


def check_generation_config(out: GenRequest, config: dict[str, Any]) -> None:
    model = out.model
    w = "generation_config"
    if (
        "temperature" in config
        and not 0.0 <= n.as_float(config["temperature"], f"{w}.temperature") <= 2.0
    ):
        raise invalid(
            f"Unable to submit request because it has a temperature value of {config['temperature']} but the supported range is from 0 (inclusive) to 2.0001 (exclusive). Update the value and try again.",
            f"{w}.temperature",
        )
    if "topP" in config and not 0.0 <= n.as_float(config["topP"], f"{w}.top_p") <= 1.0:
        raise invalid(
            f"Unable to submit request because it has a topP value of {config['topP']} but the supported range is from 0 (inclusive) to 1.0001 (exclusive). Update the value and try again.",
            f"{w}.top_p",
        )
    for key in ("topK", "seed", "logprobs"):
        if key in config:
            n.as_int(config[key], f"{w}.{n.snake(key)}")
    if (
        "candidateCount" in config
        and n.as_int(config["candidateCount"], f"{w}.candidate_count") != 1
    ):
        raise invalid(
            "Multiple candidates is not enabled for this model.", f"{w}.candidate_count"
        )
    if "maxOutputTokens" in config:
        value = n.as_int(config["maxOutputTokens"], f"{w}.max_output_tokens")
        if not 1 <= value <= model.output_limit:
            raise invalid(
                f"Unable to submit request because it has a maxOutputTokens value of {value} but the supported range is from 1 (inclusive) to {model.output_limit + 1} (exclusive). Update the value and try again.",
                f"{w}.max_output_tokens",
            )
        out.max_output = value
    stops = n.as_list(config.get("stopSequences") or [], f"{w}.stop_sequences")
    if len(stops) > 5:
        raise invalid(
            "Unable to submit request because it has more than 5 stop sequences.",
            f"{w}.stop_sequences",
        )
    out.stop = [n.as_str(s, f"{w}.stop_sequences") for s in stops]
    _thinking(
        out,
        n.fields(
            config.get("thinkingConfig") or {},
            n.THINKING_CONFIG,
            f"{w}.thinking_config",
        ),
    )
    _output_format(out, config)
    modalities = [
        n.enum(m, n.MODALITY_ENUM, f"{w}.response_modalities", "Modality")
        for m in n.as_list(
            config.get("responseModalities") or [], f"{w}.response_modalities"
        )
    ]
    if modalities:
        unsupported = [
            m
            for m in modalities
            if m == "AUDIO" or (m == "IMAGE" and not model.image_out)
        ]
        if unsupported:
            raise invalid(
                f"Model does not support the requested response modalities: {', '.join(m.lower() for m in unsupported)}",
                f"{w}.response_modalities",
            )
        out.text_out = "TEXT" in modalities
        out.image_out = "IMAGE" in modalities
    else:
        out.image_out = model.image_out
    if config.get("imageConfig") is not None:
        ic = n.fields(config["imageConfig"], n.IMAGE_CONFIG, f"{w}.image_config")
        if model.image_out:
            ratio = ic.get("aspectRatio", "1:1")
            if ratio not in model.aspect_ratios:
                raise invalid(
                    f"Unsupported aspect ratio: {ratio}. Supported values are {', '.join(model.aspect_ratios)}.",
                    f"{w}.image_config.aspect_ratio",
                )
            size = ic.get("imageSize", "1K")
            if (
                size not in model.image_sizes
            ):  # case-sensitive on purpose: "1k" is refused, as the service does
                raise invalid(
                    f"Unsupported image size: {size}. Supported values are {', '.join(model.image_sizes)}.",
                    f"{w}.image_config.image_size",
                )
            out.aspect_ratio, out.image_size = ratio, size


def _thinking(out: GenRequest, tc: dict[str, Any]) -> None:
    model = out.model
    w = "generation_config.thinking_config"
    if "includeThoughts" in tc:
        out.include_thoughts = n.as_bool(tc["includeThoughts"], f"{w}.include_thoughts")
    has_level = tc.get("thinkingLevel") is not None
    has_budget = tc.get("thinkingBudget") is not None
    if has_level and has_budget:
        raise invalid(
            "You can only set one of thinking budget and thinking level. Please remove one of them and try again.",
            w,
        )
    out.thinking_level = model.default_level
    if has_level:
        level = n.enum(
            tc["thinkingLevel"],
            n.THINKING_LEVEL_ENUM,
            f"{w}.thinking_level",
            "type.googleapis.com/google.ai.generativelanguage.v1beta.ThinkingConfig.ThinkingLevel",
        )
        if level != "THINKING_LEVEL_UNSPECIFIED":
            if level not in model.thinking_levels:
                raise invalid(
                    f"Thinking level {level} is not supported for this model. Please retry with other thinking level",
                    f"{w}.thinking_level",
                )
            out.thinking_level = level
    elif has_budget:
        budget = n.as_int(tc["thinkingBudget"], f"{w}.thinking_budget")
        if (
            budget == 0
            and not model.can_disable_thinking
            and "MINIMAL" not in model.thinking_levels
        ):
            raise invalid(
                "Budget 0 is invalid. This model only works in thinking mode.",
                f"{w}.thinking_budget",
            )
        if budget < -1 or budget > 32768:
            raise invalid(
                f"The thinking budget {budget} is invalid. Please choose a value between 128 and 32768.",
                f"{w}.thinking_budget",
            )
        if budget != -1:
            out.thinking_level, out.thinking_budget = None, budget


def _output_format(out: GenRequest, config: dict[str, Any]) -> None:
    w = "generation_config"
    mime = config.get("responseMimeType", "text/plain")
    if mime not in n.RESPONSE_MIME_TYPES:
        raise invalid(
            f"* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are `text/plain`, `application/json`, `text/x.enum`. Got: {mime}\n",
            f"{w}.response_mime_type",
        )
    has_schema = config.get("responseSchema") is not None
    has_json_schema = config.get("responseJsonSchema") is not None
    if has_schema and has_json_schema:
        raise invalid(
            "Only one of response_schema and response_json_schema can be set.",
            f"{w}.response_schema",
        )
    if (has_schema or has_json_schema) and mime == "text/plain":
        raise invalid(
            "* GenerateContentRequest.generation_config.response_mime_type: For response_mime_type text/plain, response_schema and response_json_schema must not be set.\n",
            f"{w}.response_mime_type",
        )
    out.json_mode = mime == "application/json"
    out.enum_mode = mime == "text/x.enum"
    if has_json_schema:
        out.schema = config["responseJsonSchema"]
    elif has_schema:
        from .schemagen import openapi_to_json_schema

        out.schema = openapi_to_json_schema(config["responseSchema"])
    if out.enum_mode and not (isinstance(out.schema, dict) and out.schema.get("enum")):
        raise invalid(
            "* GenerateContentRequest.generation_config.response_schema: text/x.enum requires a schema with an enum.\n",
            f"{w}.response_schema",
        )
    if out.schema is not None and not isinstance(out.schema, (dict, bool)):
        raise bad_value(f"{w}.response_schema", "Schema", out.schema)
