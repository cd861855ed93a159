"""The host's health for the heartbeat and the device page: temperature, uptime.

Linux only (``/sys/class/thermal``, ``/proc/uptime``); elsewhere, or where a
machine has no thermal zone (a VM), the value is None. On a Raspberry Pi the
CPU's zone is ``thermal_zone0`` (type ``cpu-thermal``).
"""

from __future__ import annotations

from pathlib import Path

THERMAL = Path("/sys/class/thermal")
UPTIME = Path("/proc/uptime")


def cpu_temperature_c(root: Path = THERMAL) -> float | None:
    """The CPU's temperature in °C: the zone typed ``*cpu*``/``soc``, else the first one."""
    zones = sorted(root.glob("thermal_zone*"), key=lambda p: int(p.name[12:] or 0))
    readings: list[tuple[str, float]] = []
    for zone in zones:
        try:
            kind = (zone / "type").read_text().strip().lower()
            millis = int((zone / "temp").read_text().strip())
        except (OSError, ValueError):
            continue
        readings.append((kind, millis / 1000.0))
    for kind, celsius in readings:
        if "cpu" in kind or kind in ("soc", "x86_pkg_temp"):
            return round(celsius, 1)
    return round(readings[0][1], 1) if readings else None


def uptime_seconds(path: Path = UPTIME) -> float | None:
    """Seconds since the machine booted."""
    try:
        return float(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def format_uptime(seconds: float | None) -> str:
    """``3 d 04:05`` (days, hours:minutes), or ``-``."""
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return f"{days} d {hours:02d}:{mins:02d}" if days else f"{hours:02d}:{mins:02d}"
