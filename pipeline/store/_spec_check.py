"""Which spec a run directory belongs to: recorded when a run starts, compared when it resumes.

A resume with a different spec would mix two jobs' replies in one dataset, so it is refused with the keys that
differ and what to do; `allow_change` (--allow-spec-change) adopts the new spec and keeps the change's history.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.errors import SpecError


def check_spec(
    conn: sqlite3.Connection,
    run_dir: Path,
    fingerprint: str,
    description: Mapping[str, object],
    allow_change: bool,
) -> None:
    """Record the spec of a new run, or refuse (or, when allowed, adopt) a different one."""
    # compare as stored: tuples are lists there
    described = json.loads(json.dumps(description, default=str))
    rows = dict(
        conn.execute(
            "SELECT key, value FROM meta WHERE key IN ('fingerprint', 'spec')"
        ).fetchall()
    )
    if "fingerprint" in rows:
        old_fingerprint = json.loads(rows["fingerprint"])
        if old_fingerprint == fingerprint:
            return
        old = json.loads(rows.get("spec", "{}"))
        if not allow_change:
            raise SpecError(
                _spec_change_message(
                    run_dir, old_fingerprint, fingerprint, old, described
                )
            )
        history = conn.execute(
            "SELECT value FROM meta WHERE key = 'spec_changes'"
        ).fetchone()
        changes = json.loads(history[0]) if history else []
        now = datetime.now(UTC).isoformat()
        changes.append(
            {
                "at": now,
                "from": old_fingerprint,
                "to": fingerprint,
                "changed": _diff(old, described),
            }
        )
        values = {
            "fingerprint": fingerprint,
            "spec": described,
            "spec_changes": changes,
        }
    else:
        values = {
            "fingerprint": fingerprint,
            "spec": described,
            "created_at": datetime.now(UTC).isoformat(),
        }
    conn.executemany(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        [(key, json.dumps(value, ensure_ascii=False)) for key, value in values.items()],
    )


def _spec_change_message(
    run_dir: Path,
    old_fp: str,
    new_fp: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
) -> str:
    lines = _diff(old, new) or [f"spec hash: {old_fp} -> {new_fp}"]
    shown = "\n".join(f"  {line}" for line in lines[:20])
    more = f"\n  ... and {len(lines) - 20} more" if len(lines) > 20 else ""
    return (
        f"{run_dir} holds a run of a different job spec:\n{shown}{more}\n"
        "Use another --out, or pass --allow-spec-change to continue this run with the new spec."
    )


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """ "key: old -> new" for every dotted key whose value differs."""
    a, b = _flatten(old), _flatten(new)
    changed = sorted(
        key
        for key in a.keys() | b.keys()
        if key not in a or key not in b or a[key] != b[key]
    )
    return [f"{key}: {_show(a, key)} -> {_show(b, key)}" for key in changed]


def _flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            flat.update(_flatten(item, f"{name}."))
        else:
            flat[name] = item
    return flat


def _show(values: Mapping[str, Any], key: str) -> str:
    if key not in values:
        return "(unset)"
    text = json.dumps(values[key], ensure_ascii=False)
    return text if len(text) <= 60 else f"{text[:57]}..."
