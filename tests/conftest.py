"""Shared fixtures: keep every test off the developer's real config and data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Qt runs headless in tests; set before pytest-qt creates the QApplication.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HADIR_SHARED", REPO.parent / "shared"))


@pytest.fixture(autouse=True)
def _isolated_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Point HADIR_CONFIG at a temporary config (all defaults) with temp data folders.

    The system and user config layers and the default data folders point into
    the same temporary folder, so nothing of the machine's is read or written.
    """
    root = tmp_path_factory.mktemp("hadir-config")
    data_dir = root / "data"
    cfg = root / "config.toml"
    cfg.write_text(
        f'[device]\ndata_dir = "{data_dir}"\n[server]\ndata_dir = "{root / "server-data"}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("HADIR_CONFIG", str(cfg))
    monkeypatch.setenv("HADIR_SYSTEM_CONFIG", str(root / "etc" / "config.toml"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(root / "xdg-data"))
    yield cfg


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip with a reason when it is absent."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"shared test data not found at {path}")
    return path


@pytest.fixture(scope="session")
def shared_models() -> Path:
    path = SHARED / "models"
    if not (path / "face_detection_yunet_2023mar.onnx").is_file():
        pytest.skip(f"YuNet model not found in {path}")
    return path
