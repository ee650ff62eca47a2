"""Every error edgesig raises on purpose, in one place.

Callers at a point of sale catch ``EdgesigError`` once; the subclasses let them tell
"the pen data is bad" from "this user is not enrolled" from "the store was tampered
with". Each message says what is wrong and what to do about it.
"""
from __future__ import annotations

from contextlib import contextmanager
from os import PathLike
from typing import Iterator


class EdgesigError(Exception):
    """Base class of every error edgesig raises deliberately.

    ``cli_message``, when given, is the same message with its advice in terms of the
    `edgesig` command (``--sample-rate``, ``edgesig enroll``): "call enroll() first"
    means nothing at a shell prompt. The command prints it instead of ``str(error)``.
    """

    def __init__(self, message: str = "", *, cli_message: str | None = None):
        super().__init__(message)
        self.cli_message = cli_message or message


def prefixed(error: EdgesigError, label: str) -> EdgesigError:
    """``error`` again (same type), both its messages led by ``label``: which file or which
    reference, when one of several failed ("no signature found" alone does not say which
    of five photos to retake). Its attributes (a busy store's ``path``) come along."""
    again = type(error)(f"{label}: {error}")
    again.__dict__.update(error.__dict__)
    again.cli_message = f"{label}: {error.cli_message}"
    return again


@contextmanager
def labelled(label: str) -> Iterator[None]:
    """An InvalidInputError raised inside, raised again led by ``label`` (see :func:`prefixed`):
    the reader of a file or a sample cannot say which of several it was given."""
    try:
        yield
    except InvalidInputError as exc:
        raise prefixed(exc, label) from None


def input_label(what: str, sample: object) -> str:
    """``what`` and, when ``sample`` is a path, the file ("reference 2 (scan2.png)")."""
    return what + (f" ({sample})" if isinstance(sample, (str, PathLike)) else "")


class InvalidInputError(EdgesigError, ValueError):
    """An argument has the wrong type, shape, range or value."""


class PenStreamError(InvalidInputError):
    """Pen data cannot form a usable signature (too short, NaN, time going backwards...)."""


class FormatError(InvalidInputError):
    """A file or byte stream is not in the expected format.

    ``offset`` is the byte (or line) position where reading failed, when known.
    """

    def __init__(self, message: str, offset: int | None = None, *, cli_message: str | None = None):
        if offset is not None:
            message = f"{message} (at offset {offset})"
        super().__init__(message, cli_message=cli_message)
        self.offset = offset


class ImageError(InvalidInputError):
    """An image is unreadable, empty, blank or otherwise unusable."""


class DatasetError(EdgesigError):
    """A signature data set is missing, incomplete or laid out differently than its protocol expects."""


class UnknownUserError(EdgesigError, KeyError):
    """The user has no enrolled template for the requested engine."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else "unknown user"

    @classmethod
    def not_enrolled(cls, user_id: str, engine: str) -> "UnknownUserError":
        """What every store raises for a missing template, with the advice for code and for the CLI."""
        what = f"user {user_id!r} is not enrolled for engine {engine!r}"
        return cls(f"{what}; call enroll() first",
                   cli_message=f"{what}; enrol them first with `edgesig enroll --store STORE --user {user_id} "
                               "FILES...` (or `edgesig enroll-images` for paper signatures)")


class EnrollmentError(EdgesigError):
    """References cannot be enrolled (too few, inconsistent, or of the wrong kind)."""


class EngineUnavailableError(EdgesigError):
    """The requested engine does not exist or its model is not installed."""


class ModelError(EdgesigError):
    """A model file is missing, corrupted (hash mismatch) or cannot be loaded."""


class StoreError(EdgesigError):
    """The template store cannot be opened, read or written."""


class TemplateIntegrityError(StoreError):
    """A stored template failed authentication: it was altered, moved or rolled back."""


class StoreBusyError(StoreError):
    """Another process held the store (or a lock file beside it) for longer than the timeout.

    ``path`` is the file waited for. Worth a retry: unlike the other store errors,
    nothing is wrong with the store.
    """

    def __init__(self, message: str = "", *, path: object = None, cli_message: str | None = None):
        super().__init__(message, cli_message=cli_message)
        self.path = path


class TruncatedLogError(StoreError):
    """An audit log's end is torn or cut off: entries written to it are missing.

    ``entries`` holds the intact ones, oldest first, for a caller that shows them anyway.
    """

    def __init__(self, message: str = "", *, entries: list | None = None, cli_message: str | None = None):
        super().__init__(message, cli_message=cli_message)
        self.entries = entries or []


class WrongKeyError(StoreError):
    """The key given does not open this store."""


class ReplayError(EdgesigError):
    """A capture was already seen (sequence number or nonce reused)."""


class LockedOutError(EdgesigError):
    """Too many failed verifications in a row: the user is locked out for a while.

    ``retry_after_s`` is how long until the next attempt is allowed.
    """

    def __init__(self, message: str, retry_after_s: float = 0.0):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RequestRefusedError(EdgesigError):
    """A web request to ``edgesig serve`` was refused: another origin or host, or no valid CSRF token."""


class RequestTooLargeError(InvalidInputError):
    """A web request body is larger than ``edgesig serve`` accepts for that call."""


class MissingExtraError(EdgesigError, ImportError):
    """A feature needs an optional extra that is not installed (the message names the pip command)."""


class TrainingError(EdgesigError):
    """A training run cannot start or resume as asked (process group, batch split, checkpoint)."""
