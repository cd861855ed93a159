"""The two halves install apart from the same lock file (``uv export`` per extra)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

KIOSK_ONLY = {"pyside6-essentials", "shiboken6", "dlib-bin", "opencv-python-headless",
              "face-recognition", "face-recognition-models", "pyserial"}  # fmt: skip
SERVER_ONLY = {"fastapi", "uvicorn", "psycopg", "psycopg-binary", "python-multipart", "starlette"}


def _locked(extra: str) -> set[str]:
    uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` sets $UV
    if uv is None:
        pytest.skip("uv is not on PATH")
    out = subprocess.run(
        [uv, "export", "--frozen", "--no-dev", "--extra", extra, "--no-hashes",
         "--no-emit-project", "--no-header", "--no-annotate"],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    return {m.group(1).lower() for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", out, re.M)}


def test_the_server_installs_without_qt_dlib_or_opencv() -> None:
    server = _locked("server")
    assert SERVER_ONLY - {"starlette"} <= server
    assert not server & KIOSK_ONLY, server & KIOSK_ONLY


def test_the_kiosk_installs_without_the_server_database_drivers() -> None:
    kiosk = _locked("kiosk")
    assert {"pyside6-essentials", "dlib-bin", "opencv-python-headless"} <= kiosk
    assert not kiosk & SERVER_ONLY, kiosk & SERVER_ONLY


def test_pyside6_on_aarch64_is_a_version_with_glibc_2_36_wheels() -> None:
    """Raspberry Pi OS 12 has glibc 2.36; PySide6 6.8.1+ aarch64 wheels need 2.39."""
    text = (REPO / "uv.lock").read_text(encoding="utf-8")
    pattern = (
        r'name = "pyside6-essentials", version = "([^"]+)"[^\n]*'
        r"marker = \"platform_machine == 'aarch64'\""
    )
    block = re.search(pattern, text)
    assert block is not None
    version = block.group(1)
    assert tuple(int(x) for x in version.split(".")[:3]) < (6, 8, 1)
    glibc = re.findall(
        r"PySide6_Essentials-" + re.escape(version) + r"-[^\"]*manylinux_2_(\d+)_aarch64\.whl", text
    )
    assert glibc and all(int(g) <= 36 for g in glibc), glibc
