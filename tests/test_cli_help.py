"""Every command and sub-command answers ``--help``, and every option has a help text."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from hadir.cli import _collect, build_parser


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """(command line, parser) of ``hadir`` and every (sub-)command, depth first."""
    found: list[tuple[str, argparse.ArgumentParser]] = []

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        found.append((prefix, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(f"{prefix} {name}", sub)

    walk("hadir", build_parser(_collect()))
    return found


PARSERS = _parsers()


def test_the_walk_finds_every_command() -> None:
    names = {line for line, _ in PARSERS}
    assert {"hadir kiosk", "hadir verify-log", "hadir sync", "hadir server"} <= names
    assert len(names) >= 20


@pytest.mark.parametrize("line", [line for line, _ in PARSERS])
def test_every_option_has_help(line: str) -> None:
    parser = dict(PARSERS)[line]
    missing = [
        "/".join(action.option_strings) or action.dest
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction)
        and action.help != argparse.SUPPRESS
        and not (action.help or "").strip()
    ]
    assert not missing, f"{line}: no help text for {missing}"
    assert (parser.description or "").strip(), f"{line}: no description"


@pytest.mark.parametrize("line", [line for line, _ in PARSERS])
def test_help_runs_and_is_quiet(line: str) -> None:
    """``--help`` exits 0, prints usage, and nothing on stderr (no Alembic or Qt noise)."""
    argv = [*line.split()[1:], "--help"]
    proc = subprocess.run(
        [sys.executable, "-m", "hadir.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: hadir"), proc.stdout[:200]
    assert proc.stderr == ""


def test_migrations_log_one_line_not_alembic_steps(tmp_path: object) -> None:
    """A new server database is migrated without Alembic's plugin and step lines."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hadir.cli",
            "server",
            "create-enrollment-code",
            "--opd",
            "OPD1",
            "--data-dir",
            f"{tmp_path}/server",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "alembic" not in proc.stderr.lower(), proc.stderr


def test_qt_messages_go_through_logging() -> None:
    import logging

    from kiosk.qtlog import level_of

    assert level_of("QtWarningMsg", "This plugin does not support propagateSizeHints()") == (
        logging.DEBUG
    )
    assert level_of("QtWarningMsg", "QPainter::begin: Paint device returned engine == 0") == (
        logging.WARNING
    )
    assert level_of("QtCriticalMsg", "x") == logging.ERROR
