"""Keeps the README's commands and CI in step."""

import re

from conftest import REPO_ROOT


def readme_commands():
    text = (REPO_ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick)


def test_readme_has_exactly_two_commands_and_ci_runs_the_test_one():
    commands = readme_commands()
    assert len(commands) == 2
    assert "pytest" in commands[1]
    ci_lines = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci_lines
