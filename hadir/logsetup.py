"""Logging of every ``hadir`` command: a terminal gets timestamps, journald gets priorities.

Under systemd (``JOURNAL_STREAM`` names the inode of our stderr) each line
starts with its syslog priority in sd-daemon(3) form (``<3>`` error ... ``<7>``
debug) and carries no timestamp: journald stamps, indexes (``journalctl -p
warning -u hadir-kiosk``) and rotates the log itself (``SystemMaxUse=``,
``MaxRetentionSec=`` in journald.conf), so Hadir writes no log files.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

TERMINAL_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(name)s: %(message)s"  # after the <priority> prefix

# logging level -> syslog priority
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def priority_of(levelno: int) -> int:
    for level in sorted(_PRIORITY, reverse=True):
        if levelno >= level:
            return _PRIORITY[level]
    return 7


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority_of(record.levelno)}>"
        # One journal entry per line: continuation lines keep the priority.
        return prefix + super().format(record).replace("\n", "\n" + prefix)


def stderr_is_journal(stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` is the journal stream systemd connected (``JOURNAL_STREAM``)."""
    value = (env if env is not None else os.environ).get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    if not dev or not ino:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return f"{st.st_dev}:{st.st_ino}" == value


def configure_logging(level: str, stream: TextIO | None = None) -> logging.Handler:
    """Root logging at ``level`` on ``stream`` (stderr); journal format under systemd."""
    stream = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(stream)
    if stderr_is_journal(stream):
        handler.setFormatter(_JournalFormatter(JOURNAL_FORMAT))
    else:
        handler.setFormatter(logging.Formatter(TERMINAL_FORMAT))
    root = logging.getLogger()
    if not root.handlers:  # like basicConfig: a host (pytest) may have its own
        root.addHandler(handler)
    root.setLevel(getattr(logging, level))
    if level != "DEBUG":
        # Alembic logs every plugin and migration step at INFO; our own modules
        # say what matters in one line.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    return handler
