""".env.example documents every setting: each Settings field is there, with a comment, and valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from daemon.app.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
# Read from the environment outside Settings (daemon/sql/runner.py).
OUTSIDE_SETTINGS = {"MIGRATIONS_DIR"}
# "NAME=value" (set) or "# NAME=value" (shown with its default or an example).
VARIABLE = re.compile(r"^(?:# )?([A-Z][A-Z0-9_]*)=(.*)$")


def variables() -> dict[str, tuple[str, str]]:
    """Each variable's value and the comment line just above it."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    found: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(lines):
        match = VARIABLE.match(line)
        if match:
            above = lines[number - 1] if number else ""
            is_comment = above.startswith("# ") and not VARIABLE.match(above)
            found[match.group(1)] = (match.group(2), above if is_comment else "")
    return found


def test_every_setting_is_in_the_example() -> None:
    missing = sorted(set(Settings.model_fields).difference(n.lower() for n in variables()))
    assert missing == [], f".env.example lacks {', '.join(m.upper() for m in missing)}"


def test_the_example_names_no_unknown_variable() -> None:
    known = {name.upper() for name in Settings.model_fields} | OUTSIDE_SETTINGS
    assert sorted(set(variables()) - known) == []


def test_every_variable_has_a_comment_above_it() -> None:
    uncommented = sorted(name for name, (_, comment) in variables().items() if not comment)
    assert uncommented == []


def test_every_value_shown_is_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Uncomment everything: every example value must pass the settings' validation.
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    values = {n: v for n, v in variables().items() if n not in OUTSIDE_SETTINGS}
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, (value, _) in values.items()))
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert settings.api4ai_url == "https://api4ai.cloud/img-bg-removal/v1/cars/results"
    assert settings.health_port == 8080
