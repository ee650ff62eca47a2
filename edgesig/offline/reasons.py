"""Why an image was refused, as short stable phrases a verifier can report.

A kiosk must tell the customer "no signature found" or "image too dark", not print a
stack trace, and must not score a blank sheet. The pipeline raises ``ImageError`` whose
message starts with one of these phrases and whose ``reason`` attribute holds it, so
``VerifyResult.reasons`` can carry the phrase while the message keeps the advice.
"""
from __future__ import annotations

from edgesig.errors import ImageError

NO_SIGNATURE = "no signature found"
TOO_DARK = "image too dark"
UNREADABLE = "unreadable image"
TOO_LARGE = "image too large"
TOO_SMALL = "image too small"


def image_error(reason: str, detail: str) -> ImageError:
    """An ImageError "<reason>: <detail>" with ``.reason`` set to ``reason``."""
    err = ImageError(f"{reason}: {detail}")
    err.reason = reason  # type: ignore[attr-defined]
    return err


def reason_of(err: BaseException) -> str:
    """The short reason of an error raised by the offline pipeline (its message otherwise)."""
    return str(getattr(err, "reason", None) or err)
