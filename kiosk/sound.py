"""The confirmation sound: a short two-tone beep synthesised at start-up.

The WAV is generated with the standard library (no audio file is shipped)
and played with ``aplay`` when present (Raspberry Pi OS has it), otherwise
with the platform beep. Playing never blocks the UI thread.
"""

from __future__ import annotations

import io
import logging
import math
import shutil
import struct
import subprocess
import wave
from pathlib import Path

log = logging.getLogger(__name__)

RATE = 22050


def beep_wav(tones: tuple[tuple[float, float], ...] = ((880.0, 0.09), (1320.0, 0.14))) -> bytes:
    """A 16-bit mono WAV of the given (frequency Hz, seconds) tones with soft edges."""
    samples = bytearray()
    for freq, seconds in tones:
        n = int(RATE * seconds)
        fade = max(1, int(RATE * 0.01))
        for i in range(n):
            env = min(1.0, i / fade, (n - i) / fade)
            value = int(0.4 * 32767 * env * math.sin(2 * math.pi * freq * i / RATE))
            samples += struct.pack("<h", value)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(samples))
    return buf.getvalue()


class Beeper:
    def __init__(self, data_dir: Path) -> None:
        self.player = shutil.which("aplay")
        self.path = data_dir / "sounds" / "ok.wav"
        self.played = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(beep_wav())
        except OSError as exc:
            log.warning("cannot write the confirmation sound: %s", exc)
            self.player = None

    def play(self) -> None:
        self.played += 1
        if self.player is None:
            from PySide6.QtWidgets import QApplication

            QApplication.beep()
            return
        try:
            subprocess.Popen(
                [self.player, "-q", str(self.path)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError as exc:
            log.warning("cannot play the confirmation sound: %s", exc)
