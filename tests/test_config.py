from __future__ import annotations

from pathlib import Path

import pytest

from attendance.config import HadirConfig, load_config
from attendance.configfile import ConfigError
from hadir.cli import main

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_shipped_config_matches_schema_defaults() -> None:
    cfg = load_config(REPO / "config.toml")
    assert cfg == HadirConfig()
    assert cfg.device.timezone == "Asia/Jakarta"


def test_every_key_in_shipped_config_is_commented() -> None:
    lines = (REPO / "config.toml").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            prev = lines[i - 1].strip()
            assert prev.startswith("#") or "=" in prev, f"key without comment: {line!r}"


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    p = write(tmp_path, "[camera]\nindx = 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    msg = str(err.value)
    assert str(p) in msg and "camera.indx" in msg and "index" in msg


def test_bad_value_names_allowed_values(tmp_path: Path) -> None:
    p = write(tmp_path, "[camera]\nindex = -1\n")
    with pytest.raises(ConfigError, match=r"camera.index must be >= 0, got -1"):
        load_config(p)
    p = write(tmp_path, '[recognition.detector]\nbackend = "cnn"\n')
    with pytest.raises(ConfigError, match=r"one of 'hog', 'yunet'"):
        load_config(p)
    p = write(tmp_path, '[device]\ntimezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError, match="IANA"):
        load_config(p)
    p = write(tmp_path, "[camera]\nfps = true\n")
    with pytest.raises(ConfigError, match=r"camera\.fps must be an integer"):
        load_config(p)


def test_corrupt_file_is_reported(tmp_path: Path) -> None:
    p = write(tmp_path, "[camera\nindex = 0\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)
    p.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(p)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.toml")


def test_review_threshold_below_threshold_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, "[recognition.match]\nthreshold = 0.5\nreview_threshold = 0.4\n")
    with pytest.raises(ConfigError, match="review_threshold"):
        load_config(p)


def test_tests_use_isolated_config(_isolated_config: Path) -> None:
    cfg = load_config()
    assert str(cfg.data_dir).startswith(str(_isolated_config.parent))


def test_cli_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "COMMAND" in capsys.readouterr().out
