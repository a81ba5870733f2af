"""The output type of each `keep_fields` column, inferred from the values (pure Python; the sink maps to Arrow).

Rule, applied to the values in output order:
- the first non-null value decides: str -> string, bool -> bool, int -> int64, float -> float64, and anything
  else (lists, objects, an int beyond int64) -> string;
- an int in a float64 column fits (it becomes a float), and a float arriving in an int64 column widens the
  column to float64;
- any other value that does not fit turns the whole column into string, consistently for every row.

In a string column a str is stored as it is and every other value as its JSON text (`5`, `true`, `[1,2]`), so
the same value reads the same whichever came first. A column with no value at all is a string column of nulls.
"""

from __future__ import annotations

import json
from typing import Any, Literal

Kind = Literal["string", "int64", "float64", "bool"]
_INT64 = range(-(2**63), 2**63)


def kind_of(value: Any) -> Kind | None:
    """The narrowest kind that holds `value`; None for None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64" if value in _INT64 else "string"
    if isinstance(value, float):
        return "float64"
    return "string"


def widen(current: Kind | None, value: Any) -> Kind | None:
    """The kind of a column that held `current` once `value` joins it."""
    new = kind_of(value)
    if new is None or new == current:
        return current
    if current is None:
        return new
    if {current, new} == {"int64", "float64"}:
        return "float64"
    return "string"


def resolved(kind: Kind | None) -> Kind:
    """The column type actually written: a column without values is string."""
    return "string" if kind is None else kind


def as_string(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def convert(kind: Kind, value: Any) -> Any:
    """`value` (already known to fit `kind`, see `widen`) as the Python value Arrow stores for `kind`."""
    if value is None:
        return None
    if kind == "string":
        return as_string(value)
    if kind == "float64":
        return float(value)
    return value
