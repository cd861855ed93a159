"""Temperature and uptime for the heartbeat and the device page."""

from __future__ import annotations

from pathlib import Path

from attendance.hostinfo import cpu_temperature_c, format_uptime, uptime_seconds


def _zone(root: Path, n: int, kind: str, millis: str) -> None:
    zone = root / f"thermal_zone{n}"
    zone.mkdir(parents=True)
    (zone / "type").write_text(kind + "\n")
    (zone / "temp").write_text(millis + "\n")


def test_raspberry_pi_cpu_zone(tmp_path: Path) -> None:
    _zone(tmp_path, 0, "cpu-thermal", "48312")
    assert cpu_temperature_c(tmp_path) == 48.3


def test_the_cpu_zone_is_preferred_and_bad_zones_skipped(tmp_path: Path) -> None:
    _zone(tmp_path, 0, "acpitz", "27800")
    _zone(tmp_path, 1, "broken", "n/a")
    _zone(tmp_path, 10, "x86_pkg_temp", "61000")
    assert cpu_temperature_c(tmp_path) == 61.0
    _zone(tmp_path / "other", 0, "acpitz", "27800")
    assert cpu_temperature_c(tmp_path / "other") == 27.8


def test_no_thermal_zone(tmp_path: Path) -> None:
    assert cpu_temperature_c(tmp_path) is None


def test_uptime(tmp_path: Path) -> None:
    path = tmp_path / "uptime"
    path.write_text("273906.42 1063445.19\n")
    assert uptime_seconds(path) == 273906.42
    assert format_uptime(273906.42) == "3 d 04:05"
    assert format_uptime(3599) == "00:59"
    assert format_uptime(None) == "-"
    assert uptime_seconds(tmp_path / "missing") is None
    assert uptime_seconds(Path("/proc/uptime")) is not None
