"""The daemon's errors: one tree, and each branch is handled in one way.

    DaemonError
    ├── TransientError ............. an outage: retried with backoff, never the job's fault
    │   ├── QueueUnavailable ....... the queue did not answer (claim, heartbeat, final write)
    │   ├── StorageFailed .......... storage_failed        (also a ProcessingError)
    │   ├── ProviderUnavailable .... provider_unavailable  (also a ProcessingError)
    │   └── ProviderRateLimited .... provider_rate_limited (also a ProcessingError)
    ├── ProcessingError ............ this job failed: a contract code and one sentence
    │   ├── InvalidOptions, SourceNotFound, UnsupportedImage, CorruptImage, ImageTooLarge,
    │   │   BackgroundRemovalFailed, LeaseExpired ... permanent: the job fails at once
    │   └── InternalError .......... a bug: the traceback goes to the log, never to the row
    └── ConfigurationError ......... the daemon cannot run as configured: one sentence, exit 1
        └── SettingsError .......... a setting is missing, malformed or refused
            └── CredentialsRefused . a service refused the daemon's key (at start-up; or a key
                                     revoked while running: claiming pauses until it works)

Adapters catch their own libraries' exceptions by name and map them into this tree once; any
other exception is a bug. A job that meets one fails with `internal_error` (see
`as_processing_error`), and no loop ever retries one as if it were an outage.
"""

from __future__ import annotations

from typing import Any, ClassVar


def first_line(exc: BaseException) -> str:
    """An exception's message, first line only, or its type's name when it has none.

    Library messages (psycopg's, libpq's) carry lines of context nobody needs in a job row, a
    health answer or a log line; connection errors name the host and port, never the password.
    """
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


class DaemonError(Exception):
    """The root of every error the daemon raises on purpose."""


class TransientError(DaemonError):
    """An outage of something the daemon depends on: retried with backoff."""


class ConfigurationError(DaemonError):
    """The daemon cannot run as configured; the message is one sentence for the operator."""


class SettingsError(ConfigurationError):
    """A setting is missing or malformed; the message is one sentence naming the variable."""


class CredentialsRefused(SettingsError):
    """A service refused the daemon's key (HTTP 401/403 or its equivalent).

    At start-up the daemon exits 1 with the message; while running it stops claiming, reports
    the message on /health and probes until the key works again. Never retried as an outage.
    """


class QueueUnavailable(TransientError):
    """The queue could not be reached; the caller retries with backoff."""


class ProcessingError(DaemonError):
    """A job failure with a contract code and a one-sentence message (CONTRACT.md section 5)."""

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


class ProviderUnavailable(ProcessingError, TransientError):
    code = "provider_unavailable"
    retryable = True


class ProviderRateLimited(ProcessingError, TransientError):
    code = "provider_rate_limited"
    retryable = True


class StorageFailed(ProcessingError, TransientError):
    code = "storage_failed"
    retryable = True


class LeaseExpired(ProcessingError):
    code = "lease_expired"


class InternalError(ProcessingError):
    """A bug in the daemon or a library: never retried as an outage."""

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
