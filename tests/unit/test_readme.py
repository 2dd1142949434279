"""The README keeps its promises: the two commands first, CI runs its test command, the reference
is the one the models generate."""

from __future__ import annotations

import re
from pathlib import Path

from daemon.app.reference import with_reference

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block is not None, "the README starts with a bash block"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_starts_with_the_demo_and_the_test_commands() -> None:
    first_block = README.index("```bash")
    assert first_block < README.index("\n## "), "the commands come before any section"
    demo, tests = readme_commands()
    assert demo.endswith("python -m daemon demo")
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    _, tests = readme_commands()
    assert tests in ci.splitlines()


def test_readme_reference_is_generated_from_the_models() -> None:
    assert with_reference(README) == README, "run: python -m daemon.app.reference --write README.md"
