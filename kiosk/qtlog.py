"""Qt's own messages go through Python logging (logger ``qt``), not raw to stderr.

Known harmless messages (the offscreen platform's "This plugin does not
support propagateSizeHints()" on every window resize) are logged at DEBUG;
Qt warnings at WARNING, critical and fatal messages at ERROR.
"""

from __future__ import annotations

import logging

log = logging.getLogger("qt")

HARMLESS = ("This plugin does not support propagateSizeHints()",)


def level_of(kind: str, message: str) -> int:
    """The logging level for a Qt message of ``kind`` (QtMsgType's name)."""
    if any(message.startswith(h) for h in HARMLESS):
        return logging.DEBUG
    if kind in ("QtDebugMsg", "QtInfoMsg"):
        return logging.DEBUG
    if kind == "QtWarningMsg":
        return logging.WARNING
    return logging.ERROR


def install_qt_log() -> None:
    """Route Qt's messages of this process into logging (call once per process)."""
    from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler

    def handler(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
        log.log(level_of(kind.name, message), "%s", message)

    qInstallMessageHandler(handler)
