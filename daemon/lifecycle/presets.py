"""Presets (CONTRACT.md section 1b): a job's options over its preset's, resolved at claim time."""

from __future__ import annotations

import json
from typing import Any, Protocol

from daemon.domain.errors import InvalidOptions
from daemon.domain.options import ProcessingOptions, merge_options, parse_options


class PresetSource(Protocol):
    """Where presets are read from (the job queue's database)."""

    async def preset(self, name: str) -> dict[str, Any] | None: ...


async def resolve_options(raw: Any, presets: PresetSource | None) -> ProcessingOptions:
    """The job's options, validated as one object after merging in the preset they name.

    The preset's options apply first and the job's own keys override them (objects merge key by
    key). An unknown preset, or one whose options do not validate, is invalid_options naming it.
    """
    job_keys = _as_dict(raw)
    if job_keys.get("preset") is None:
        return parse_options(raw)
    # The job's own keys may complete the preset's (a logo's width without its path): they are
    # validated together, once merged. The name alone is checked first.
    name = parse_options({"preset": job_keys["preset"]}).preset
    assert name is not None
    if presets is None:
        raise InvalidOptions(
            f"The preset '{name}' cannot be used here: presets live in the database."
        )
    preset = await presets.preset(name)
    if preset is None:
        raise InvalidOptions(f"The preset '{name}' does not exist.")
    try:
        return parse_options(merge_options(preset, job_keys))
    except InvalidOptions as exc:
        raise InvalidOptions(f"The preset '{name}' gives bad options: {exc.message}") from None


def _as_dict(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str | bytes):
        loaded = json.loads(raw)
        return dict(loaded) if isinstance(loaded, dict) else {}
    return dict(raw) if isinstance(raw, dict) else {}
