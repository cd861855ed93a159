"""A copy of the checkout with no ``../shared`` beside it: what a new user gets.

The copy holds the files git knows about (tracked, or new and not ignored),
so it is what a fresh clone of this tree would hold. These tests start
processes and take tens of seconds: marked slow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def fresh_copy(dest_parent: Path) -> Path:
    """The checkout's files (as a clone would hold them) in ``dest_parent/hadir``."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout (git or .git missing)")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    dest = dest_parent / "hadir"
    for name in listed.decode().split("\0"):
        if not name:
            continue
        src = REPO / name
        if not src.is_file():
            continue  # deleted in the work tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    assert not (dest_parent / "shared").exists()
    return dest


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADIR_")}
    env.update(QT_QPA_PLATFORM="offscreen", **extra)
    return env


@pytest.mark.slow
def test_demo_enrolls_and_punches_without_shared(tmp_path: Path) -> None:
    """The demo clip shipped in assets/demo is enrolled and punched."""
    clone = fresh_copy(tmp_path)
    # This interpreter's packages, the copy's code (PYTHONPATH comes before the
    # editable install of the checkout).
    proc = subprocess.run(
        [sys.executable, "-m", "hadir.cli", "kiosk", "--demo", "--exit-after", "25"],
        cwd=clone,
        env=clean_env(PYTHONPATH=str(clone)),
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert str(clone / "assets" / "demo") in out, out
    assert "face enrolled: Siti Rahmawati" in out, out
    assert "face punch recorded" in out, out
    assert "propagateSizeHints" not in out and "alembic" not in out.lower(), out


@pytest.mark.slow
def test_demo_without_any_clip_says_where_it_looked(tmp_path: Path) -> None:
    clone = fresh_copy(tmp_path)
    for clip in (clone / "assets" / "demo").glob("*.mp4"):
        clip.unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "hadir.cli", "kiosk", "--demo", "--exit-after", "2"],
        cwd=clone,
        env=clean_env(PYTHONPATH=str(clone)),
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "no demo clip found" in out, out
    assert str(clone / "assets" / "demo" / "head-pose-face-detection-female.mp4") in out, out
