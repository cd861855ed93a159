"""Every screen renders at the kiosk sizes; the demo runs headless and exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytestqt")

REPO = Path(__file__).resolve().parent.parent


def test_screenshots_cover_every_screen_at_both_sizes(qtbot: Any, tmp_path: Path) -> None:
    from PySide6.QtGui import QImage

    from kiosk.screenshots import SIZES, render_all

    paths = render_all(tmp_path, "id", None)
    names = {p.name.rsplit("-", 1)[0] for p in paths}
    for screen in ("ready", "success", "duplicate", "pin-nip", "admin-pin", "enroll-consent",
                   "enroll-capture", "enroll-duplicate", "enroll-finger", "people",
                   "device"):  # fmt: skip
        assert any(n.endswith(screen) for n in names), screen
    assert len(paths) == len(names) * len(SIZES)
    for path in paths:
        image = QImage(str(path))
        w, h = (int(v) for v in path.stem.rsplit("-", 1)[1].split("x"))
        assert (image.width(), image.height()) == (w, h), path.name
        # not a blank page: the screens draw text and colour blocks
        colours = {image.pixel(x, y) for x in range(0, w, 37) for y in range(0, h, 23)}
        assert len(colours) > 3, path.name


def test_fonts_scale_with_the_window() -> None:
    from kiosk.widgets import style_sheet

    small = style_sheet(800, 480, "#clock { font-size: @CLOCK@px; }")
    large = style_sheet(1920, 1080, "#clock { font-size: @CLOCK@px; }")
    assert small == "#clock { font-size: 54px; }"
    assert large == "#clock { font-size: 122px; }"


@pytest.mark.slow
def test_demo_runs_headless_and_exits(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("DISPLAY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "hadir.cli", "kiosk", "--demo", "--exit-after", "2"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Hadir demo:" in proc.stdout
    assert "kiosk ready" in proc.stderr
    demo_dir = proc.stdout.split("data in ", 1)[1].split(";", 1)[0]
    assert not Path(demo_dir).exists(), "the temporary demo data is removed at exit"
