"""Thought signatures of realistic size for image-model replies.

Real `thoughtSignature` values on Gemini 3 image replies are large: one recorded 1K image reply
carried about 1.1 MB of base64 per signature (on the text part and on the image part) in a 3.3 MB
body. A client that keeps whole replies in memory, or writes them to disk, must be measured against
that. The emulator builds one cheaply and deterministically: the reply's own short signature, then a
seeded block repeated to the configured length (`image_signature_chars`), cut on a base64 quantum so
the whole string still decodes.
"""

from __future__ import annotations

import base64
import random

__all__ = ("image_signature",)

_BLOCK = base64.b64encode(
    random.Random(0x7516).randbytes(3 * 1024)
).decode()  # 4,096 chars
_fillers: dict[int, str] = {}


def _filler(chars: int) -> str:
    found = _fillers.get(chars)
    if found is None:
        repeats = chars // len(_BLOCK) + 1
        found = (_BLOCK * repeats)[:chars]
        if (
            len(_fillers) >= 8
        ):  # a handful of configured sizes; never grows without bound
            _fillers.clear()
        _fillers[chars] = found
    return found


def image_signature(signature: str, chars: int) -> str:
    """`signature` (standard base64) grown to about `chars` characters, still valid base64."""
    head = base64.b64encode(
        base64.b64decode(signature)[:30]
    ).decode()  # 40 chars, no padding
    rest = (chars - len(head)) // 4 * 4
    if rest <= 0:
        return signature
    return head + _filler(rest)
