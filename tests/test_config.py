from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from hadir.cli import main
from hadir.config import HadirConfig, load_config
from hadir.configfile import ConfigError, default_data_dir, load_file

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def _keys(model: object, prefix: str = "") -> list[str]:
    out = []
    for name, value in model.__dict__.items():
        if isinstance(value, BaseModel):
            out += _keys(value, f"{prefix}{name}.")
        else:
            out.append(f"{prefix}{name}")
    return out


def test_shipped_config_matches_schema_defaults() -> None:
    cfg = load_file(HadirConfig, REPO / "config.toml")
    assert cfg == HadirConfig()
    assert cfg.device.timezone == "Asia/Jakarta"


def test_every_schema_key_is_in_the_shipped_config() -> None:
    text = (REPO / "config.toml").read_text(encoding="utf-8")
    tables = re.split(r"^\[([a-z.]+)\]$", text, flags=re.M)
    keys = {
        f"{table}.{m.group(1)}"
        for table, body in zip(tables[1::2], tables[2::2], strict=True)
        for m in re.finditer(r"^#? ?([a-z_]+) = ", body, flags=re.M)
    }
    missing = [k for k in _keys(HadirConfig()) if k not in keys]
    assert not missing, f"keys without a line in config.toml: {missing}"


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
    p = write(tmp_path, "[camra]\nindex = 1\n")
    with pytest.raises(ConfigError, match=r"unknown key camra \(allowed here: admin, camera"):
        load_config(p)


def test_bad_value_names_file_key_and_allowed_values(tmp_path: Path) -> None:
    p = write(tmp_path, "[camera]\nindex = -1\n")
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(p))}: camera.index must be >= 0, got -1$"
    ):
        load_config(p)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[recognition.detector]\nbackend = "cnn"', r"one of 'hog', 'yunet', got 'cnn'"),
        ('[device]\ntimezone = "Mars/Olympus"', r"device\.timezone must be an IANA"),
        ("[camera]\nfps = true", r"camera\.fps must be an integer, got True"),
        ('[camera]\nfps = "15"', r"camera\.fps must be an integer, got '15'"),
        (
            '[recognition.liveness]\nchallenges = ["blink", "smile"]',
            r"recognition\.liveness\.challenges\[1\] must be one of",
        ),
        ('[device]\nid = "kiosk 01"', r"device\.id must match"),
        ("[recognition.match]\nthreshold = nan", r"recognition\.match\.threshold must be a finite"),
        ('[rules]\ncheckin_start = "106:00x"', r"rules\.checkin_start must match"),
        ('[server]\nsingle_punch_tl = "PSW3"', r"server\.single_punch_tl must match"),
        ('[server]\nzk_machines = "10.0.0.5"', r"server\.zk_machines must be a list"),
        ("[sync]\nca_file = 1", r"sync\.ca_file must be a string, got 1"),
        ('[recognition]\nmodel = "facenet"', r"recognition\.model must be one of"),
        (
            '[recognition.migration]\ntarget_model = "dlib_face_recognition_resnet_model_v1"',
            r"recognition\.migration\.target_model must be one of",
        ),
    ],
)
def test_bad_value_names_allowed_values(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text + "\n"))


def test_every_problem_is_listed(tmp_path: Path) -> None:
    p = write(tmp_path, "[camera]\nindex = -1\nfps = 0\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert str(err.value).splitlines() == [
        f"{p}: camera.index must be >= 0, got -1",
        f"{p}: camera.fps must be >= 1, got 0",
    ]


def test_the_configurable_face_models_are_the_known_models() -> None:
    from typing import get_args

    from recognition.config import FaceModel, MigrationSection, RecognitionSection
    from recognition.modelinfo import DEFAULT_MODEL, MODELS

    assert set(get_args(FaceModel)) == set(MODELS)
    assert RecognitionSection().model == DEFAULT_MODEL
    targets = get_args(MigrationSection.model_fields["target_model"].annotation)
    assert set(targets) - {""} <= set(MODELS)


def test_a_float_key_accepts_an_integer(tmp_path: Path) -> None:
    p = write(tmp_path, "[admin]\nlockout_seconds = 60\n")
    assert load_config(p).admin.lockout_seconds == 60.0


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
    with pytest.raises(
        ConfigError,
        match=r"recognition.match: review_threshold \(0.4\) must be >= threshold \(0.5\)",
    ):
        load_config(p)


def test_tests_use_isolated_config(_isolated_config: Path) -> None:
    cfg = load_config()
    assert str(cfg.data_dir).startswith(str(_isolated_config.parent))
    assert str(cfg.server_data_dir).startswith(str(_isolated_config.parent))


def test_cli_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "COMMAND" in capsys.readouterr().out


# --- layers ------------------------------------------------------------------


@pytest.fixture
def layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Every file layer in a temporary folder, each setting keys of its own and one shared key."""
    system = write(tmp_path, '[device]\nopd_code = "SYS"\nid = "from-system"\n', "etc/c.toml")
    user = write(
        tmp_path,
        '[device]\nopd_name = "User"\nid = "from-user"\n',
        "xdg/hadir/config.toml",
    )
    env = write(tmp_path, '[camera]\nfps = 10\n[device]\nid = "from-env"\n', "env.toml")
    explicit = write(tmp_path, '[camera]\nwidth = 320\n[device]\nid = "from-flag"\n', "f.toml")
    monkeypatch.setenv("HADIR_SYSTEM_CONFIG", str(system))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HADIR_CONFIG", str(env))
    return {"system": system, "user": user, "env": env, "explicit": explicit}


def test_later_layers_override_key_by_key(layers: dict[str, Path]) -> None:
    cfg = load_config(layers["explicit"])
    assert cfg.device.id == "from-flag"
    assert cfg.device.opd_code == "SYS"  # only the system file sets it
    assert cfg.device.opd_name == "User"  # only the user file sets it
    assert (cfg.camera.fps, cfg.camera.width) == (10, 320)  # env and --config
    assert cfg.camera.height == 480  # nobody sets it: the built-in default
    assert load_config().device.id == "from-env"
    os.environ.pop("HADIR_CONFIG")
    assert load_config().device.id == "from-user"
    layers["user"].unlink()
    assert load_config().device.id == "from-system"
    layers["system"].unlink()
    cfg = load_config()
    assert cfg.device.id == "kiosk-01" and cfg == HadirConfig()


def test_without_any_file_every_key_has_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HADIR_CONFIG")
    assert load_config() == HadirConfig()


def test_a_missing_explicit_file_is_an_error_but_optional_layers_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HADIR_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=r"nope.toml: file not found"):
        load_config()
    monkeypatch.delenv("HADIR_CONFIG")
    load_config()  # no /etc or user file in the test's folders: fine


def test_an_error_names_the_layer_that_gave_the_bad_value(layers: dict[str, Path]) -> None:
    write(
        layers["user"].parent.parent.parent,
        '[camera]\nindex = -1\n[recognition.liveness]\nchallenges = ["blink", "wink"]\n',
        "xdg/hadir/config.toml",
    )
    with pytest.raises(ConfigError) as err:
        load_config(layers["explicit"])
    user = str(layers["user"])
    assert str(err.value).splitlines() == [
        f"{user}: camera.index must be >= 0, got -1",
        f"{user}: recognition.liveness.challenges[1] must be one of 'blink', 'turn_left', "
        "'turn_right', got 'wink'",
    ]


def test_default_data_folders_are_per_user_and_separate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.delenv("HADIR_CONFIG")
    kiosk, server = default_data_dir("kiosk"), default_data_dir("server")
    if os.geteuid() == 0:
        assert (kiosk, server) == (Path("/var/lib/hadir/kiosk"), Path("/var/lib/hadir/server"))
    else:
        assert (kiosk, server) == (tmp_path / "share/hadir/kiosk", tmp_path / "share/hadir/server")
    cfg = load_config()
    assert (cfg.data_dir, cfg.server_data_dir) == (kiosk, server)


def test_config_show_prints_values_and_sources(
    layers: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "show", "--config", str(layers["explicit"])]) == 0
    out = capsys.readouterr().out
    assert f'id = "from-flag"  # {layers["explicit"]}' in out
    assert f'opd_code = "SYS"  # {layers["system"]}' in out
    assert f'opd_name = "User"  # {layers["user"]}' in out
    assert f"fps = 10  # {layers['env']}" in out
    assert "height = 480  # built-in default" in out
    assert "[recognition.match]\nthreshold = 0.94  # built-in default" in out
    assert main(["config", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["device.id"] == {"value": "from-env", "source": str(layers["env"])}
    assert shown["recognition.liveness.challenges"]["value"] == ["blink", "turn_left", "turn_right"]
    assert set(shown) == set(_keys(HadirConfig()))


def test_config_show_output_is_the_effective_config_as_toml(
    layers: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "show", "--config", str(layers["explicit"])]) == 0
    shown = write(tmp_path, capsys.readouterr().out, "shown.toml")
    assert load_file(HadirConfig, shown) == load_config(layers["explicit"])


def test_config_show_reports_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, "[camera]\nindex = -1\n")
    assert main(["config", "show", "--config", str(p)]) == 2
    assert f"hadir config: {p}: camera.index must be >= 0, got -1" in capsys.readouterr().err


def test_commands_say_which_data_folder_they_use(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.INFO)
    assert main(["demo-punches", "--count", "1", "--data-dir", str(tmp_path / "k")]) == 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data folder")]
    assert lines == [f"data folder {tmp_path / 'k'} (device.data_dir from --data-dir)"]
    caplog.clear()
    assert main(["server", "admin-token", "--data-dir", str(tmp_path / "s")]) == 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data folder")]
    assert lines == [f"data folder {tmp_path / 's'} (server.data_dir from --data-dir)"]
    assert (tmp_path / "s" / "admin-token").is_file()


def test_a_package_view_reads_its_sections_and_the_dispatcher_checks_the_whole_file(
    tmp_path: Path,
) -> None:
    import argparse

    from attendance.config import AttendanceConfig
    from hadir.command import CONFIG_MODEL_ATTR, CommandError, config_from_args

    p = write(tmp_path, '[camera]\nindx = 1\n[admin]\nmax_attempts = 3\n[device]\nid = "k-9"\n')
    args = argparse.Namespace(config=p, data_dir=tmp_path / "d")
    view = config_from_args(args, AttendanceConfig)  # [camera] is not attendance's
    assert type(view) is AttendanceConfig
    assert (view.admin.max_attempts, view.device.id, view.data_dir) == (3, "k-9", tmp_path / "d")
    setattr(args, CONFIG_MODEL_ATTR, HadirConfig)  # as hadir.cli does
    with pytest.raises(CommandError, match=r"unknown key camera\.indx"):
        config_from_args(args, AttendanceConfig)
    write(tmp_path, '[admin]\nmax_attempts = 3\n[device]\nid = "k-9"\n')
    whole = config_from_args(args, AttendanceConfig)
    assert isinstance(whole, HadirConfig) and whole.admin.max_attempts == 3
