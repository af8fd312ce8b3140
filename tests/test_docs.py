"""Every command in the README and docs/ is real: each `tfrec ...` line parses with the CLI's own
parser, each shell block says whether a test runs it, and the blocks marked `run` are run."""

import os
import re
import shlex
import subprocess
import sys

import pytest
from conftest import ML100K_DIR, REPO_ROOT

from tfrec.cli import build_parser

PAGES = [REPO_ROOT / "README.md", *sorted(p for p in (REPO_ROOT / "docs").glob("*.md") if p.name != "cli.md")]
BLOCK = re.compile(r"(?:<!-- docs-test: (?P<marker>[^>]*?) -->\n)?```bash\n(?P<body>.*?)\n```", re.S)


def blocks():
    for page in PAGES:
        for match in BLOCK.finditer(page.read_text()):
            yield page, match["marker"], match["body"]


def commands(text):
    """``tfrec`` command lines of a shell block or inline code (continuations joined, comments cut)."""
    text = text.replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split(" #")[0].strip()
        found = re.search(r"(?:^|[;&|(]\s*|\s)(tfrec\s+[a-z-].*)$", line)
        if found and not line.startswith("#"):
            yield found[1].rstrip("\"'&; ")


def inline_commands(page):
    """Inline code that is a command (it has an option), not a command's name (`tfrec serve`)."""
    spans = [" ".join(span.split()) for span in re.findall(r"(?<!`)`(tfrec [^`]+)`", page.read_text())]
    return [c for span in spans if " -" in span for c in commands(span)]


def test_the_cli_reference_is_generated_from_the_parser():
    from tfrec.cli.reference import render

    assert (REPO_ROOT / "docs" / "cli.md").read_text() == render(), \
        "docs/cli.md is stale: python -m tfrec.cli.reference > docs/cli.md"


def test_every_shell_block_says_whether_it_is_run():
    unmarked = [f"{page.name}: {body.splitlines()[0]}" for page, marker, body in blocks()
                if page.name != "README.md" or "pip install" not in body
                if not marker or not (marker == "run" or marker.startswith("not run: "))]
    assert not unmarked, f"mark these blocks <!-- docs-test: run --> or <!-- docs-test: not run: why -->: {unmarked}"


def test_every_documented_command_parses():
    parser = build_parser()
    shown = [(page.name, c) for page, _, body in blocks() for c in commands(body)]
    shown += [(page.name, c) for page in PAGES for c in inline_commands(page)]
    assert len(shown) > 20
    failures = []
    for page, command in shown:
        try:
            parser.parse_args(shlex.split(command)[1:])
        except SystemExit:
            failures.append(f"{page}: {command}")
    assert not failures, "\n".join(failures)


RUN_PAGES = sorted({page for page, marker, _ in blocks() if marker == "run"})


def test_the_run_blocks_cover_the_tour_and_serving():
    names = [page.name for page in RUN_PAGES]
    assert "README.md" in names and "serving.md" in names, names
    assert sum(1 for page, marker, body in blocks() if marker == "run" for _ in commands(body)) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("page", RUN_PAGES, ids=lambda page: page.name)
def test_the_blocks_marked_run_run(page, tmp_path, ml100k_dir):
    """Each page's run blocks in order, in one folder (a page's commands build on each other);
    one test per page, so that the pages run side by side."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    ran = 0
    for _, marker, body in (b for b in blocks() if b[0] == page):
        if marker != "run":
            continue
        for command in commands(body):
            command = command.replace("../shared/data/ml-100k", str(ML100K_DIR))
            result = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
                                    timeout=600)
            assert result.returncode == 0, f"{page.name}: {command}\n{result.stderr[-2000:]}"
            assert "Traceback" not in result.stderr and " W tensorflow" not in result.stderr, result.stderr[-2000:]
            ran += 1
    assert ran >= 1
