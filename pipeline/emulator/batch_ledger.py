"""The ledger's `batch` section: jobs, lines answered and their tokens and dollars at the batch price.

Batch lines are counted here only, not in the ledger's `tokens`: `tokens` keeps meaning "what the
online routes billed", and the two add up to everything the emulator generated.
"""

from __future__ import annotations

from typing import Any

from .prices import BATCH_DISCOUNT, cost_usd

_KINDS = ("input", "output", "thinking", "image_output")


class BatchLedger:
    """Counters of the Batch API (both the Gemini and the OpenAI-compatible doors)."""

    def __init__(self) -> None:
        self.jobs_created = 0
        self.jobs_by_door: dict[str, int] = {}
        self.jobs_finished: dict[str, int] = {}
        self.lines = 0
        self.lines_ok = 0
        self.lines_failed = 0
        self.tokens = dict.fromkeys(_KINDS, 0)
        self.cost = 0.0
        self.by_model: dict[str, dict[str, Any]] = {}

    def job_created(self, door: str) -> None:
        self.jobs_created += 1
        self.jobs_by_door[door] = self.jobs_by_door.get(door, 0) + 1

    def job_finished(self, state: str) -> None:
        """A job reached a terminal state (`SUCCEEDED`, `FAILED`, `CANCELLED`, `EXPIRED`)."""
        self.jobs_finished[state] = self.jobs_finished.get(state, 0) + 1

    def line_failed(self, model: str) -> None:
        self.lines += 1
        self.lines_failed += 1
        self._model(model)["lines"] += 1

    def line_ok(
        self,
        model: str,
        input_tokens: int,
        output: int,
        thinking: int,
        image_output: int,
    ) -> None:
        """One answered line, billed at the batch price (50 % of the standard list price)."""
        self.lines += 1
        self.lines_ok += 1
        dollars = cost_usd(
            model, input_tokens, output, thinking, image_output, discount=BATCH_DISCOUNT
        )
        self.cost += dollars
        entry = self._model(model)
        entry["lines"] += 1
        entry["cost_usd"] += dollars
        for kind, n in zip(
            _KINDS, (input_tokens, output, thinking, image_output), strict=True
        ):
            self.tokens[kind] += n
            entry["tokens"][kind] += n

    def _model(self, model: str) -> dict[str, Any]:
        entry = self.by_model.get(model)
        if entry is None:
            entry = self.by_model[model] = {
                "lines": 0,
                "tokens": dict.fromkeys(_KINDS, 0),
                "cost_usd": 0.0,
            }
        return entry

    def to_json(self) -> dict[str, Any]:
        return {
            "jobs_created": self.jobs_created,
            "jobs_by_door": dict(sorted(self.jobs_by_door.items())),
            "jobs_finished": dict(sorted(self.jobs_finished.items())),
            "lines": self.lines,
            "lines_ok": self.lines_ok,
            "lines_failed": self.lines_failed,
            "tokens": dict(self.tokens),
            "cost_usd": round(self.cost, 9),
            "by_model": {
                model: {
                    **entry,
                    "tokens": dict(entry["tokens"]),
                    "cost_usd": round(entry["cost_usd"], 9),
                }
                for model, entry in sorted(self.by_model.items())
            },
        }
