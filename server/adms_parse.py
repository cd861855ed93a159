"""Parsing what ZKTeco firmware really sends in ADMS (iclock) bodies.

Firmware generations differ; one ATTLOG punch can arrive as:

* tab separated, PIN first: ``PIN\\tTIME[\\tstatus\\tverify\\tworkcode\\tr1\\tr2...]``
  (2, 4, 5, 7, 10 or 12 fields; the 10/12-field forms add mask flag,
  temperature and similar trailing fields, kept in ``extra``);
* tab separated, a log id first: ``ID\\tPIN\\tTIME\\tstatus\\tverify...``;
* key=value (push 3.x): ``PIN=1001\\tTime=2026-11-28 07:12:03\\tStatus=0\\tVerifyMode=1``,
  with an optional ``TimeOffset`` (push 2.4+), tab or space separated;
* space separated: ``1001 2026-11-28 07:12:03 0 1 0 0 0``;
* with CRLF line ends and with or without a trailing newline.

The time field is found by its shape, so the PIN is the field just before it
and the punch attributes follow it. A line that still cannot be read raises
:class:`LineError` with the reason; the caller keeps the raw line for review.
Nothing here touches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from attendance.adms import parse_key_values

PIN_RE = re.compile(r"[A-Za-z0-9]{1,32}")
_TIME_RE = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?")
_DATE_TOKEN = re.compile(r"\d{4}[-/]\d{1,2}[-/]\d{1,2}")
_CLOCK_TOKEN = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?")
_OFFSET_HHMM = re.compile(r"([+-])?(\d{1,2}):?(\d{2})")
MAX_LINE = 4096

# The protocol's verify codes; the raw code is always kept beside the name.
VERIFY_MODES = {
    "0": "any",
    "1": "fingerprint",
    "2": "user_id",  # PIN / work number entered on the keypad
    "3": "password",
    "4": "card",
    "15": "face",
}
DIRECTIONS = {
    "0": "masuk",
    "1": "pulang",
    "2": "break_out",
    "3": "break_in",
    "4": "overtime_in",
    "5": "overtime_out",
}
_PIN_KEYS = ("pin", "userid", "user_id", "enrollnumber", "badgenumber")
_TIME_KEYS = ("time", "datetime", "checktime", "attime", "timestamp")
_STATUS_KEYS = ("status", "state", "inoutmode", "punch", "inoutstate")
_VERIFY_KEYS = ("verifymode", "verify", "verifytype", "verifytyp", "verified")
_WORKCODE_KEYS = ("workcode", "work_code")
_ID_KEYS = ("id", "logid", "sn_log", "logindex")
_OFFSET_KEYS = ("timeoffset", "tzoffset")


class LineError(ValueError):
    """One line that cannot be read as what its table should hold."""


@dataclass(frozen=True)
class AttlogLine:
    """One punch as the machine reported it (wall time of the machine)."""

    pin: str
    local_time: str  # normalised ``YYYY-MM-DD HH:MM:SS``
    status: str
    verify: str  # the raw code, "" when the line has none
    workcode: str
    log_id: str = ""
    offset_minutes: int | None = None  # the line's own TimeOffset, if any
    layout: str = "tab"  # tab | id_first | key_value | space
    extra: tuple[str, ...] = field(default_factory=tuple)

    @property
    def verify_mode(self) -> str:
        if not self.verify:
            return "any"
        return VERIFY_MODES.get(self.verify, f"other:{self.verify}")[:16]

    @property
    def direction(self) -> str:
        return DIRECTIONS.get(self.status, f"status:{self.status}")[:16]


def printable(text: str) -> str:
    return "".join(ch for ch in text if ord(ch) >= 32 and ord(ch) != 127)


def escape_raw(line: str) -> str:
    """A raw line as storable text: control characters (but TAB) as ``\\xNN``."""
    return "".join(
        ch if ch == "\t" or (ord(ch) >= 32 and ord(ch) != 127) else f"\\x{ord(ch):02x}"
        for ch in line
    )


def body_lines(body: str) -> list[str]:
    """Non-blank lines of a body with LF, CRLF or CR line ends (last newline optional)."""
    return [line for line in re.split(r"\r\n|\r|\n", body) if line.strip()]


def normalise_time(text: str) -> str:
    """``2026-11-28 07:12:03`` (also ``/`` dates, ``T``, no seconds); LineError if not a time."""
    m = _TIME_RE.fullmatch(text.strip())
    if not m:
        raise LineError(f"time {text[:40]!r} is not YYYY-MM-DD HH:MM:SS")
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    try:
        at = datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise LineError(f"time {text[:40]!r}: {exc}") from None
    return (
        f"{at.year:04d}-{at.month:02d}-{at.day:02d} {at.hour:02d}:{at.minute:02d}:{at.second:02d}"
    )


def parse_offset(text: str) -> int:
    """A TimeOffset as minutes east of UTC.

    Firmware sends hours (``7``, ``-3``, ``5.5``), ``+HH:MM`` / ``+HHMM``, or
    minutes (``420``, ``330``): a bare number up to 14 is hours, above is minutes.
    """
    value = text.strip()
    m = _OFFSET_HHMM.fullmatch(value)
    if m and (":" in value or len(value.lstrip("+-")) == 4):
        sign = -1 if m.group(1) == "-" else 1
        minutes = sign * (int(m.group(2)) * 60 + int(m.group(3)))
    else:
        try:
            number = float(value)
        except ValueError:
            raise LineError(f"TimeOffset {value[:20]!r} is not hours or minutes") from None
        minutes = round(number * 60) if abs(number) <= 14 else round(number)
    if not -14 * 60 <= minutes <= 14 * 60:
        raise LineError(f"TimeOffset {value[:20]!r} is outside -14:00..+14:00")
    return minutes


def _pick(kv: dict[str, str], keys: tuple[str, ...]) -> str | None:
    lowered = {k.lower(): v for k, v in kv.items()}
    for key in keys:
        if key in lowered:
            return lowered[key]
    return None


def _code(value: str | None, name: str, default: str) -> str:
    value = (value or "").strip()
    if not value:
        return default
    if not value.isdigit() or len(value) > 4:
        raise LineError(f"{name} {value[:20]!r} is not a number")
    return str(int(value))


def _check_pin(pin: str) -> str:
    pin = pin.strip()
    if not PIN_RE.fullmatch(pin):
        raise LineError(f"PIN {pin[:40]!r} is not 1-32 letters/digits")
    return pin


def _looks_key_value(line: str) -> bool:
    first = re.split(r"[\t ]", line.strip(), maxsplit=1)[0]
    key = first.partition("=")[0].lower()
    return "=" in first and key in (*_PIN_KEYS, *_ID_KEYS, *_TIME_KEYS)


def _key_value_line(line: str) -> AttlogLine:
    kv = parse_key_values(line)
    pin = _pick(kv, _PIN_KEYS)
    time = _pick(kv, _TIME_KEYS)
    if pin is None:
        raise LineError("key=value line without PIN")
    if time is None:
        raise LineError("key=value line without Time")
    offset = _pick(kv, _OFFSET_KEYS)
    known = {*_PIN_KEYS, *_TIME_KEYS, *_STATUS_KEYS, *_VERIFY_KEYS, *_WORKCODE_KEYS}
    known |= {*_ID_KEYS, *_OFFSET_KEYS}
    extra = tuple(f"{k}={printable(v)[:64]}" for k, v in kv.items() if k.lower() not in known)
    return AttlogLine(
        pin=_check_pin(pin),
        local_time=normalise_time(time),
        status=_code(_pick(kv, _STATUS_KEYS), "Status", "0"),
        verify=_code(_pick(kv, _VERIFY_KEYS), "VerifyMode", ""),
        workcode=printable(_pick(kv, _WORKCODE_KEYS) or "")[:32],
        log_id=printable(_pick(kv, _ID_KEYS) or "")[:32],
        offset_minutes=parse_offset(offset) if offset else None,
        layout="key_value",
        extra=extra[:16],
    )


def _split_positional(line: str) -> tuple[list[str], str]:
    if "\t" in line:
        return [f.strip() for f in line.split("\t")], "tab"
    tokens = line.split()
    fields: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if (
            _DATE_TOKEN.fullmatch(tok)
            and i + 1 < len(tokens)
            and _CLOCK_TOKEN.fullmatch(tokens[i + 1])
        ):
            fields.append(f"{tok} {tokens[i + 1]}")
            i += 2
            continue
        fields.append(tok)
        i += 1
    return fields, "space"


def parse_attlog_line(line: str) -> AttlogLine:
    """Read one ATTLOG line in any layout above; :class:`LineError` says why not."""
    if len(line) > MAX_LINE:
        raise LineError(f"line longer than {MAX_LINE} characters")
    line = line.strip("\r\n")
    if not line.strip():
        raise LineError("empty line")
    if _looks_key_value(line):
        return _key_value_line(line)
    fields, layout = _split_positional(line)
    # Trailing key=value fields (e.g. TimeOffset=420 after the positional ones).
    kv = parse_key_values("\t".join(f for f in fields if "=" in f))
    fields = [f for f in fields if "=" not in f]
    at = next((i for i, f in enumerate(fields) if _TIME_RE.fullmatch(f)), None)
    if at is None:
        raise LineError("no field is a time YYYY-MM-DD HH:MM:SS")
    if at == 0:
        raise LineError("no PIN before the time")
    if at == 1:
        log_id, pin = "", fields[0]
    elif at == 2:
        log_id, pin = fields[0], fields[1]
        if not log_id.isdigit():
            raise LineError(f"unexpected field {log_id[:20]!r} before the PIN")
        layout = "id_first"
    else:
        raise LineError(f"the time is field {at + 1}; expected field 2 or 3")
    rest = fields[at + 1 :]
    offset = _pick(kv, _OFFSET_KEYS)
    return AttlogLine(
        pin=_check_pin(pin),
        local_time=normalise_time(fields[at]),
        status=_code(rest[0] if rest else None, "status", "0"),
        verify=_code(rest[1] if len(rest) > 1 else None, "verify", ""),
        workcode=printable(rest[2] if len(rest) > 2 else "")[:32],
        log_id=printable(log_id)[:32],
        offset_minutes=parse_offset(offset) if offset else None,
        layout=layout,
        extra=tuple(printable(f)[:64] for f in rest[3:16])
        + tuple(f"{k}={printable(v)[:64]}" for k, v in kv.items() if k.lower() not in _OFFSET_KEYS),
    )


@dataclass(frozen=True)
class UserLine:
    """A user reported by the machine (USERINFO / OPERLOG USER) or a BIODATA/FP owner."""

    pin: str
    name: str | None  # None: the line says nothing about the name (BIODATA, FP)
    privilege: str | None
    biometric: str | None  # e.g. "fp:6", "face:0", "bio:9:0" for template lines


_BIO_TYPES = {"1": "fp", "2": "face", "8": "palm", "9": "face", "7": "fp"}


def parse_user_line(line: str) -> UserLine | None:
    """``USER PIN=..``, bare ``PIN=..\\tName=..`` (USERINFO), ``FP PIN=..``, ``FACE PIN=..``,
    ``BIODATA Pin=..``. Returns None for lines that carry no user (OPLOG, ...);
    LineError for a user line without a usable PIN. Passwords, card numbers and
    templates are never returned."""
    text = line.strip()
    kind, _, rest = text.partition(" ")
    upper = kind.upper()
    if "=" in kind:  # USERINFO without a prefix word
        upper, rest = "USER", text
    if upper not in ("USER", "USERINFO", "FP", "FINGERTMP", "FACE", "BIODATA", "BIOPHOTO"):
        return None
    kv = parse_key_values(rest)
    pin = _pick(kv, _PIN_KEYS)
    if pin is None:
        raise LineError(f"{upper} line without PIN")
    pin = _check_pin(pin)
    if upper in ("USER", "USERINFO"):
        return UserLine(
            pin,
            printable(_pick(kv, ("name",)) or "")[:200],
            printable(_pick(kv, ("pri", "privilege")) or "0")[:16],
            None,
        )
    if upper in ("FP", "FINGERTMP"):
        bio = f"fp:{printable(_pick(kv, ('fid', 'fingerid')) or '?')[:4]}"
    elif upper == "FACE":
        bio = f"face:{printable(_pick(kv, ('fid',)) or '0')[:4]}"
    else:
        btype = printable(_pick(kv, ("type",)) or "?")[:4]
        index = printable(_pick(kv, ("no", "index")) or "0")[:4]
        bio = f"{_BIO_TYPES.get(btype, 'bio' + btype)}:{index}"
    return UserLine(pin, None, None, bio)
