"""loguru, set up once: readable on a terminal, JSON lines otherwise (or with LOG_FORMAT=json).

Secrets never reach the log: adapters log hosts and codes, not URLs with keys, and `redact` scrubs
anything that looks like a JWT or an API key header as a last line of defence.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TYPE_CHECKING, Literal

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

_SECRET_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWTs
    re.compile(
        r"(?i)(x-api-key|apikey|authorization|api_key|token)([\"']?\s*[:=]\s*[\"']?)[^\s\"',&]+"
    ),
)


def redact(text: str) -> str:
    text = _SECRET_PATTERNS[0].sub("<redacted-jwt>", text)
    return _SECRET_PATTERNS[1].sub(r"\1\2<redacted>", text)


def _scrub(record: Record) -> None:
    record["message"] = redact(record["message"])


class _ToLoguru(logging.Handler):
    """Libraries that log through the standard library (psycopg, httpx, websockets) go to the
    same sink, in the same format."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).bind(library=record.name).log(
            level, record.getMessage()
        )


def setup_logging(level: str = "INFO", fmt: Literal["auto", "text", "json"] = "auto") -> None:
    """Replace loguru's default sink with one for this process; call once at start-up."""
    logger.remove()
    logging.basicConfig(handlers=[_ToLoguru()], level=logging.WARNING, force=True)
    json_lines = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    logger.configure(patcher=_scrub)
    if json_lines:
        logger.add(sys.stderr, level=level, serialize=True, backtrace=False, diagnose=False)
    else:
        logger.add(
            sys.stderr,
            level=level,
            backtrace=False,
            diagnose=False,
            format="<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> {message}"
            " <dim>{extra}</dim>",
        )
