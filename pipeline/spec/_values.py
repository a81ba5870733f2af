"""Value parsers for the job spec, shared by `[generation]` and a row's `generation` object.

Each parser takes (dotted key, value) and returns the typed value or raises `_Bad`, which `load_spec` turns
into a SpecError and `apply_row_overrides` into a RowInvalid. `_Section` refuses unknown keys with a
did-you-mean hint. No message ever echoes a value that looks like a key.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any


class _Bad(Exception):
    """One wrong value; `load_spec` turns it into a SpecError, `apply_row_overrides` into a RowInvalid."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


Parser = Callable[[str, Any], Any]
# Google API keys, OpenAI-style keys, OAuth tokens: never echoed in a message.
_KEY_LIKE = ("AIza", "sk-", "ya29.", "Bearer ")


def _got(value: Any) -> str:
    """A short description of a wrong value for an error message; never echoes anything that looks like a key."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if value.startswith(_KEY_LIKE):
            return "a string that looks like an API key (not shown)"
        shown = json.dumps(value, ensure_ascii=False)
        return shown if len(shown) <= 60 else shown[:57] + '..."'
    if isinstance(value, int | float):
        return repr(value)
    names: dict[type, str] = {list: "a list", dict: "a table"}
    return names.get(type(value), f"a {type(value).__name__}")


def _unknown(key: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f'did you mean "{close[0]}"? ' if close else ""
    return f'unknown key "{key}"; {hint}expected one of: {", ".join(known)}'


class _Section:
    """One TOML table (or a row's generation object): refuses unknown keys, then parses the known ones."""

    def __init__(self, data: Any, name: str, known: Mapping[str, Parser]) -> None:
        if not isinstance(data, Mapping):
            raise _Bad(name, f"expected a table [{name}], got {_got(data)}")
        for key in data:
            if key not in known:
                raise _Bad(f"{name}.{key}" if name else key, _unknown(key, known))
        self.data, self.name, self.known = data, name, known

    def key(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self.data:
            return default
        return self.known[key](self.key(key), self.data[key])

    def require(self, key: str, example: str) -> Any:
        if key not in self.data:
            raise _Bad(self.key(key), f"missing; add {example} under [{self.name}]")
        return self.get(key)


def _integer(minimum: int | None = None, maximum: int | None = None) -> Parser:
    def parse(key: str, value: Any) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not _within(value, minimum, maximum)
        ):
            raise _Bad(
                key,
                f"expected {_range('an integer', minimum, maximum)}, got {_got(value)}",
            )
        return value

    return parse


def _number(
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    positive: bool = False,
) -> Parser:
    def parse(key: str, value: Any) -> float:
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
        )
        if not ok or not _within(value, minimum, maximum) or (positive and value <= 0):
            wanted = (
                "a number more than 0"
                if positive
                else _range("a number", minimum, maximum)
            )
            raise _Bad(key, f"expected {wanted}, got {_got(value)}")
        return float(value)

    return parse


def _within(value: float, minimum: float | None, maximum: float | None) -> bool:
    return (minimum is None or value >= minimum) and (
        maximum is None or value <= maximum
    )


def _range(what: str, minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{what} from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f"{what} of at least {minimum:g}"
    return what if maximum is None else f"{what} of at most {maximum:g}"


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(key, f"expected a non-empty string, got {_got(value)}")
    return value


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(key, f"expected true or false, got {_got(value)}")
    return value


def _choice(
    options: Iterable[str], *, fold: Callable[[str], str] | None = None
) -> Parser:
    options = tuple(options)

    def parse(key: str, value: Any) -> str:
        folded = fold(value) if fold is not None and isinstance(value, str) else value
        if folded not in options:
            raise _Bad(
                key,
                f"expected one of {', '.join(map(json.dumps, options))}, got {_got(value)}",
            )
        return folded

    return parse


def _strings(item: Parser, *, most: int | None = None) -> Parser:
    def parse(key: str, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list) or (most is not None and len(value) > most):
            limit = f" of at most {most}" if most is not None else ""
            raise _Bad(
                key,
                f'expected a list{limit} of strings, e.g. ["a", "b"], got {_got(value)}',
            )
        parsed = tuple(item(f"{key}[{i}]", entry) for i, entry in enumerate(value))
        if len(set(parsed)) != len(parsed):
            raise _Bad(
                key, f"expected distinct entries, got {_got(value)} with repeats"
            )
        return parsed

    return parse


def _env_name(key: str, value: Any) -> str:
    """The NAME of an environment variable. The value is never echoed: people paste the key itself here."""
    if (
        not isinstance(value, str)
        or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value)
        or value.startswith("AIza")
    ):
        raise _Bad(
            key,
            'expected the name of an environment variable, e.g. "GEMINI_API_KEY" (the value is not shown: if '
            "you pasted a key here, revoke it, put it in an environment variable and write that variable's name)",
        )
    return value


def _url(key: str, value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(
        r"https?://[^\s/?#]+(/[^\s?#]*)?", value
    ):
        raise _Bad(
            key,
            'expected an http(s) URL without a query string, e.g. "https://generativelanguage.googleapis.com" '
            "(keys go in api_key_env, never in the URL)",
        )
    return value.rstrip("/")


def _name(key: str, value: Any) -> str:
    value = _text(key, value)
    if "/" in value or "\\" in value or value in (".", ".."):
        raise _Bad(
            key,
            f"expected a name without path separators (it names ./out/<name>), got {_got(value)}",
        )
    return str(value)


def _path(key: str, value: Any) -> str:
    return _text(key, value)
