"""`toolConfig.functionCallingConfig`: the function calling mode and the functions it allows.

Modes (reference 2026-12 section 8): AUTO (default) lets the model choose between text and a call;
ANY forces a call, to one of `allowedFunctionNames` when given, else to any declared function; NONE
forbids calls, as if no functions were declared; VALIDATED (preview) lets the model choose but keeps
calls within `allowedFunctionNames`. The list is documented only for ANY and VALIDATED, so with
another mode it is a 400, as are names that no declaration has, and a forced call with no
declarations to choose from. (The 400 wordings are the emulator's; the service's are not recorded.)
"""

from __future__ import annotations

from typing import Any

from . import normalize as n
from .apierror import invalid
from .genrequest import GenRequest

__all__ = ("parse_function_calling",)

FUNCTION_CALLING_CONFIG = frozenset(
    {"mode", "allowedFunctionNames", "streamFunctionCallArguments"}
)
_WHERE = "tool_config.function_calling_config"


def parse_function_calling(out: GenRequest, tool_config: dict[str, Any]) -> None:
    """Check `functionCallingConfig` against the declared functions (parsed first) and record it."""
    raw = tool_config.get("functionCallingConfig")
    if raw is None:
        return
    fcc = n.fields(raw, FUNCTION_CALLING_CONFIG, _WHERE)
    mode = "AUTO"
    if fcc.get("mode") is not None:
        mode = n.enum(
            fcc["mode"],
            n.FUNCTION_MODE_ENUM,
            f"{_WHERE}.mode",
            "FunctionCallingConfig.Mode",
        )
        if mode == "MODE_UNSPECIFIED":
            mode = "AUTO"
    where = f"{_WHERE}.allowed_function_names"
    names = tuple(
        n.as_str(x, where)
        for x in n.as_list(fcc.get("allowedFunctionNames") or [], where)
    )
    if names and mode not in ("ANY", "VALIDATED"):
        raise invalid(
            f"* GenerateContentRequest.{where}: allowed_function_names can only be set when "
            f"function_calling_config.mode is ANY or VALIDATED (mode is {mode}).\n",
            where,
        )
    unknown = [name for name in names if name not in out.functions]
    if unknown:
        raise invalid(
            f"* GenerateContentRequest.{where}: function {unknown[0]!r} is not declared in "
            "tools.function_declarations.\n",
            where,
        )
    if mode == "ANY" and not out.functions:
        raise invalid(
            f"* GenerateContentRequest.{_WHERE}.mode: mode ANY requires at least one function "
            "declaration in tools.\n",
            f"{_WHERE}.mode",
        )
    out.function_mode, out.allowed_functions = mode, names
