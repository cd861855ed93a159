"""Qt-free kiosk state: texts, formatting."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from kiosk.i18n import CATALOGUES, Catalogue
from kiosk.state import format_date, group_nip, mask_pin

ISSUE_GUIDANCE = (
    "no_face",
    "too_small",
    "too_far",
    "blurred",
    "too_dark",
    "too_bright",
    "turned",
    "multiple_faces",
    "cut_off",
)


def test_catalogues_have_the_same_keys() -> None:
    assert set(CATALOGUES["id"]) == set(CATALOGUES["en"])


@pytest.mark.parametrize("code", ISSUE_GUIDANCE)
def test_every_guidance_code_has_its_own_text(code: str) -> None:
    cat = Catalogue("id")
    assert cat.has(f"guidance.{code}")
    assert cat.guidance(code) != "" and "{" not in cat.guidance(code)


def test_quality_gate_codes_all_have_text() -> None:
    quality = pytest.importorskip("recognition.quality")
    cat = Catalogue("id")
    for code in quality.QUALITY_CODES:
        if code != "ok":
            assert cat.has(f"guidance.{code}"), code


def test_issue_wording_in_bahasa_indonesia() -> None:
    cat = Catalogue("id")
    assert cat.guidance("too_far") == "Mendekat ke kamera"
    assert cat.guidance("too_dark") == "Terlalu gelap"
    assert cat.guidance("turned") == "Hadapkan wajah ke kamera"
    assert cat.guidance("multiple_faces") == "Satu orang saja"
    assert cat.challenge("blink") == "Kedipkan mata"
    assert cat.challenge("turn_left") == "Toleh ke kiri"
    assert cat.challenge("turn_right") == "Toleh ke kanan"
    assert cat.text("result.duplicate", time="07:12") == "Sudah tercatat pukul 07:12"
    assert cat.text("device.sync_now") == "Sinkronkan sekarang"


def test_english_is_selectable_and_unknown_language_is_refused() -> None:
    assert Catalogue("en").challenge("blink") == "Blink your eyes"
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        Catalogue("fr")


def test_unknown_guidance_code_gets_a_generic_instruction() -> None:
    assert Catalogue("id").guidance("something_new") == "Hadapkan wajah ke kamera"


def test_date_in_indonesian_and_nip_grouping() -> None:
    now = datetime(2026, 11, 28, 7, 12, tzinfo=ZoneInfo("Asia/Jakarta"))
    assert format_date(now, Catalogue("id")) == "Sabtu, 28 November 2026"
    assert format_date(now, Catalogue("en")) == "Saturday, 28 November 2026"
    assert group_nip("198503122010011002") == "19850312 201001 1 002"
    assert group_nip("1985") == "1985"
    assert mask_pin("1234") == "\u25cf" * 4
