"""Every subcommand's ``--help`` works alone (no other argument, no data read) and every option says
what it does, in plain text (issue: help and errors)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from medgan.cli import build_parser, main

MARKUP = re.compile(r"`|\*\*[A-Za-z]|\[[^\]]+\]\(|</?[a-z]+>")  # Markdown code, bold, links; HTML tags


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...],
                                                                                             argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(build_parser()))


def test_every_command_is_listed() -> None:
    names = {path[0] for path, _ in COMMANDS if path}
    assert {"inspect", "augment", "train", "synthesize", "evaluate", "benchmark", "report", "demo"} <= names
    assert any(path[:1] == ("train",) and len(path) == 2 for path, _ in COMMANDS)  # one per GAN family


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS if p], ids=lambda p: " ".join(p))
def test_help_works_alone(path: tuple[str, ...], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        main([*path, "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: medgan " + " ".join(path)), text[:200]


def test_every_option_has_plain_help() -> None:
    problems = []
    for path, parser in COMMANDS:
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction, argparse._VersionAction)):
                continue
            name = " ".join(("medgan", *path, "/".join(action.option_strings) or action.dest))
            text = "" if action.help is None else str(action.help)
            if action.help != argparse.SUPPRESS and not text.strip():
                problems.append(f"{name}: no help text")
            elif MARKUP.search(text):
                problems.append(f"{name}: markup in {text!r}")
        if path and not (parser.description or "").strip():
            problems.append(f"medgan {' '.join(path)}: no description")
        elif MARKUP.search(parser.description or ""):
            problems.append(f"medgan {' '.join(path)}: markup in the description")
    assert not problems, "\n".join(problems)
