"""The command-line reference, generated from the argparse parser (never copied by hand).

``python -m tfrec.cli.reference > docs/cli.md`` rewrites it; a test checks that the committed
file equals the output.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from tfrec.cli import build_parser


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser, str]]:
    """``(command words, parser, one-line help)`` for the parser and every subcommand."""
    yield path, parser, ""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                for words, child, text in _commands(sub, (*path, name)):
                    yield words, child, text or helps.get(name, "")


def _row(action: argparse.Action) -> str:
    names = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.dest}`"
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        names += " {" + ", ".join(str(c) for c in action.choices) + "}"
    text = (action.help or "").replace("%%", "%").replace("|", "\\|").replace("\n", " ")
    return f"| {names} | {' '.join(text.split())} |"


def render() -> str:
    """The Markdown reference of every ``tfrec`` command and option."""
    lines = ["# Command-line reference", "",
             "Generated from the argument parser by `python -m tfrec.cli.reference`; do not edit by hand.", ""]
    for words, parser, text in _commands(build_parser()):
        actions = [a for a in parser._actions if a.dest != "help"
                   and not isinstance(a, argparse._SubParsersAction)]
        if not actions:
            continue
        lines += [f"## `{' '.join(('tfrec', *words))}`", ""]
        if text or parser.description:
            lines += [" ".join((parser.description or text).split()), ""]
        lines += ["| option | meaning |", "| --- | --- |", *map(_row, actions), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
