"""The contract's error codes (CONTRACT.md section 5) as one exception hierarchy.

Every failure that reaches a job's `error` column is one of these: a code, one sentence a person
can act on, and whether a retry could help. Anything else is mapped to `internal_error` once, at
the edge (see `as_processing_error`).
"""

from __future__ import annotations

from typing import Any, ClassVar


class ProcessingError(Exception):
    """A job failure with a contract code and a one-sentence message."""

    code: ClassVar[str] = "internal_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Seconds the provider asked us to wait (Retry-After); becomes the job's retry delay.
        self.retry_after = retry_after

    def to_json(self, *, attempt: int | None = None, at: str | None = None) -> dict[str, Any]:
        """The `error` column's shape: code, message, retryable, attempt, at."""
        return {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "attempt": attempt,
            "at": at,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidOptions(ProcessingError):
    code = "invalid_options"


class SourceNotFound(ProcessingError):
    code = "source_not_found"


class UnsupportedImage(ProcessingError):
    code = "unsupported_image"


class CorruptImage(ProcessingError):
    code = "corrupt_image"


class ImageTooLarge(ProcessingError):
    code = "image_too_large"


class BackgroundRemovalFailed(ProcessingError):
    """The provider refused this image; sending it again will not help."""

    code = "background_removal_failed"


class ProviderUnavailable(ProcessingError):
    code = "provider_unavailable"
    retryable = True


class ProviderRateLimited(ProcessingError):
    code = "provider_rate_limited"
    retryable = True


class StorageFailed(ProcessingError):
    code = "storage_failed"
    retryable = True


class LeaseExpired(ProcessingError):
    code = "lease_expired"


class InternalError(ProcessingError):
    code = "internal_error"


ERROR_CODES: tuple[str, ...] = tuple(
    cls.code
    for cls in (
        InvalidOptions,
        SourceNotFound,
        UnsupportedImage,
        CorruptImage,
        ImageTooLarge,
        BackgroundRemovalFailed,
        ProviderUnavailable,
        ProviderRateLimited,
        StorageFailed,
        LeaseExpired,
        InternalError,
    )
)


def as_processing_error(exc: BaseException) -> ProcessingError:
    """Map any exception to the contract once; unknown ones become internal_error.

    The message of an unknown exception is not passed on: it may hold a path, a URL with a key, or
    a traceback-shaped text that means nothing to the person reading the job row.
    """
    if isinstance(exc, ProcessingError):
        return exc
    if isinstance(exc, MemoryError):
        return ImageTooLarge(
            "The image needs more memory than this worker has; upload a smaller one."
        )
    return InternalError(
        f"Unexpected {type(exc).__name__} while processing; the worker log has the details."
    )
