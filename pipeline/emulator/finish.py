"""How a candidate explains a finish other than a plain STOP: `finishMessage` texts, which finishes
carry blocked safety ratings, and Vertex's `promptFeedback.blockReasonMessage`.

The service writes `finishMessage` (free text) only on some finishes. Recorded: a function-call turn
ends STOP with "Model generated function call(s)."; MALFORMED_FUNCTION_CALL says "Malformed function
call: " and the text the model produced; IMAGE_PROHIBITED_CONTENT (Vertex recording) and
IMAGE_SAFETY explain the block. Recorded MAX_TOKENS and SAFETY finishes carry no finishMessage, so
the emulator sends none there. `blockReasonMessage` "is not supported in Gemini API" (SDK): only
Vertex replies carry it.
"""

from __future__ import annotations

__all__ = ("BLOCK_REASON_MESSAGE", "SAFETY_FINISHES", "finish_message")

FUNCTION_CALL_STOP = "Model generated function call(s)."
FINISH_MESSAGES = {
    "MALFORMED_FUNCTION_CALL": 'Malformed function call: print(default_api.call(args={"',
    "IMAGE_SAFETY": (
        "Unable to show the generated image. The generated image was filtered out because it "
        "violated Google's Generative AI Prohibited Use policy. You will not be charged for blocked "
        "images. Try rephrasing the prompt. If you think this was an error, send feedback."
    ),
    "IMAGE_PROHIBITED_CONTENT": (
        "The model output could not be generated. This output contains sensitive words that "
        "violate Google's Responsible AI practices. If you think this was an error, send feedback."
    ),
}
# Finishes whose candidate lists the safety ratings with the blocking one marked `blocked: true`.
SAFETY_FINISHES = frozenset(
    {"SAFETY", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT"}
)  # fmt: skip
BLOCK_REASON_MESSAGE = (
    "The prompt could not be submitted. This prompt contains sensitive words that violate "
    "Google's Responsible AI practices. Try rephrasing the prompt. If you think this was an error, "
    "send feedback."
)


def finish_message(reason: str, function_call: bool) -> str | None:
    """The candidate's `finishMessage`, or None when the service sends none."""
    if reason == "STOP":
        return FUNCTION_CALL_STOP if function_call else None
    return FINISH_MESSAGES.get(reason)
