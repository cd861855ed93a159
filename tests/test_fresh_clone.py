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


def _readme_fresh_machine_commands() -> list[str]:
    """The indented command lines of the README's "On a fresh machine" section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## On a fresh machine", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in section.splitlines() if line.startswith("    ")]


def test_the_readme_gives_two_fresh_machine_commands() -> None:
    demo, tests = _readme_fresh_machine_commands()
    assert demo.endswith("&& pipx run uv run hadir kiosk --demo")
    assert tests.endswith("&& pipx run uv run pytest")
    assert demo.startswith("sudo apt install -y pipx ") and tests.startswith(demo.split("&&")[0])


@pytest.mark.slow
def test_readme_commands_from_a_fresh_clone(tmp_path: Path) -> None:
    """The README's commands after apt and pipx (``uv run ...``) in a copy with no
    ../shared: a new .venv from the lock, the demo enrolls and punches, the tests
    are collected, every command answers --help, and a server on loopback
    registers a kiosk set up with ``hadir setup`` and receives its punches."""
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    clone = fresh_copy(tmp_path)
    env = clean_env()
    env.pop("VIRTUAL_ENV", None)

    def run(
        *argv: str, timeout: float = 900, stdin: str | None = None, stdout_only: bool = False
    ) -> str:
        proc = subprocess.run(
            [uv, "run", *argv], cwd=clone, env=env, capture_output=True, text=True,
            timeout=timeout, input=stdin,
        )  # fmt: skip
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"uv run {' '.join(argv)}:\n{out[-3000:]}"
        return proc.stdout if stdout_only else out

    demo_cmd, tests_cmd = _readme_fresh_machine_commands()
    demo = demo_cmd.split("pipx run uv run ", 1)[1].split()
    out = run(*demo, "--exit-after", "25")
    assert (clone / ".venv").is_dir()
    assert "face enrolled: Siti Rahmawati" in out and "face punch recorded" in out, out
    pytest_argv = tests_cmd.split("pipx run uv run ", 1)[1].split()
    assert " tests collected" in run(*pytest_argv, "--collect-only", "-q")
    assert "install-service" in run("hadir", "--help")
    for command in ("kiosk", "setup", "backup", "restore", "server", "sync", "verify-log"):
        assert "usage: hadir" in run("hadir", command, "--help", timeout=300)

    # The server and a kiosk on loopback, as the README's service section sets them up.
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv_dir, kiosk_dir = tmp_path / "server", tmp_path / "kiosk"
    server = subprocess.Popen(
        [uv, "run", "hadir", "server", "--data-dir", str(srv_dir), "--port", str(port)],
        cwd=clone, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        import requests

        while True:
            try:
                requests.get(url + "/openapi.json", timeout=2)
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.5)
        code = run(
            "hadir", "server", "create-enrollment-code", "--opd", "DISKOMINFO",
            "--data-dir", str(srv_dir), stdout_only=True,
        ).strip()  # fmt: skip
        out = run(
            "hadir", "setup", "--data-dir", str(kiosk_dir), "--pin-stdin", "--server", url,
            "--code", code, "--no-camera-check", stdin="246810\n",
        )  # fmt: skip
        assert "for OPD DISKOMINFO; sync is on" in out, out
        run("hadir", "demo-punches", "--data-dir", str(kiosk_dir), "--count", "5")
        out = run("hadir", "sync", "now", "--json", "--data-dir", str(kiosk_dir))
        assert '"delivered": 5' in out, out
    finally:
        server.terminate()
        server.wait(timeout=60)
