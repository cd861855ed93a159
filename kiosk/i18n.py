"""Screen text in Bahasa Indonesia (default) and English.

A plain dictionary catalogue keyed by message id. Guidance codes of the
quality gate and the liveness challenges map to ``guidance.<code>`` and
``challenge.<code>``; several spellings of the same condition (``too_small``
and ``too_far``) share a text so the kiosk does not depend on the engine's
exact vocabulary. A missing message id raises ``KeyError`` in tests (see
``tests/test_kiosk_state.py``) rather than showing a raw id to a user, except
for unknown guidance codes, which fall back to a generic instruction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

LANGUAGES: Final = ("id", "en")

_ID: Final[Mapping[str, str]] = {
    # attendance screen
    "ready": "Silakan lihat ke kamera",
    "ready.sub": "Berdiri sekitar 50 cm dari layar",
    "guidance.generic": "Hadapkan wajah ke kamera",
    "guidance.no_face": "Silakan lihat ke kamera",
    "guidance.too_small": "Mendekat ke kamera",
    "guidance.too_far": "Mendekat ke kamera",
    "guidance.too_close": "Mundur sedikit",
    "guidance.too_large": "Mundur sedikit",
    "guidance.blurred": "Diam sebentar",
    "guidance.blurry": "Diam sebentar",
    "guidance.too_dark": "Terlalu gelap",
    "guidance.too_bright": "Terlalu terang",
    "guidance.turned": "Hadapkan wajah ke kamera",
    "guidance.pose": "Hadapkan wajah ke kamera",
    "guidance.multiple_faces": "Satu orang saja",
    "guidance.several_faces": "Satu orang saja",
    "guidance.cut_off": "Posisikan wajah di tengah",
    "guidance.off_center": "Posisikan wajah di tengah",
    "guidance.hold_still": "Tahan sebentar...",
    "guidance.checking": "Memeriksa...",
    "guidance.spoof": "Gunakan wajah asli, bukan foto",
    "challenge.blink": "Kedipkan mata",
    "challenge.turn_left": "Toleh ke kiri",
    "challenge.turn_right": "Toleh ke kanan",
    "challenge.failed": "Verifikasi gagal, coba lagi",
    "camera.lost": "Kamera tidak terhubung. Menyambungkan kembali...",
    "camera.starting": "Menyalakan kamera...",
    "worker.restarted": "Pengenalan wajah dimulai ulang",
    # result card
    "result.success": "Berhasil tercatat",
    "result.direction.masuk": "MASUK",
    "result.direction.pulang": "PULANG",
    "result.duplicate": "Sudah tercatat pukul {time}",
    "result.not_recognised": "Wajah tidak dikenali",
    "result.finger_unknown": "Sidik jari tidak dikenali",
    "finger.error": "Sensor sidik jari tidak merespons",
    "result.not_recognised.sub": "Gunakan NIP dan PIN",
    "result.error": "Gagal mencatat: {reason}",
    "result.pin_snapshot": "Absen dengan PIN (foto wajah disimpan untuk pemeriksaan)",
    "result.on_time": "Tepat waktu",
    # PIN fallback
    "pin.title": "Absen dengan NIP + PIN",
    "pin.enter_nip": "Masukkan NIP (18 digit)",
    "pin.enter_pin": "Masukkan PIN",
    "pin.wrong": "NIP atau PIN salah",
    "pin.locked": "Terlalu banyak PIN salah untuk NIP ini. Coba lagi dalam {minutes} menit",
    "pin.nip_invalid": "NIP harus 18 digit",
    "pin.button": "NIP + PIN",
    "key.ok": "OK",
    "key.back": "Hapus",
    "key.cancel": "Batal",
    # sync indicator
    "sync.online": "Terhubung",
    "sync.offline": "Offline",
    "sync.disabled": "Lokal",
    "sync.pending": "{count} menunggu",
    "sync.unregistered": "Perangkat belum terdaftar",
    # admin
    "admin.title": "Mode Admin",
    "admin.enter_pin": "Masukkan PIN admin",
    "admin.wrong_pin": "PIN salah ({left} kesempatan lagi)",
    "admin.locked": "Terkunci. Coba lagi dalam {seconds} detik",
    "admin.not_set": (
        "PIN admin belum diatur: buat PIN admin sekarang (atau jalankan 'hadir setup')"
    ),
    "setup.title": "Penyiapan awal",
    "setup.pin_new": "Buat PIN admin baru (6-12 angka)",
    "setup.pin_repeat": "Ulangi PIN admin",
    "setup.pin_short": "PIN admin minimal 6 angka",
    "setup.pin_mismatch": "PIN tidak sama; ulangi dari awal",
    "admin.menu.enroll": "Daftarkan wajah",
    "admin.menu.enroll_finger": "Daftarkan wajah / sidik jari",
    "admin.menu.people": "Data pegawai",
    "admin.menu.device": "Perangkat",
    "admin.menu.exit": "Kembali ke absensi",
    "admin.back": "Kembali",
    "enroll.search": "Cari pegawai (NIP atau nama)",
    "enroll.search.none": "Tidak ada pegawai yang cocok",
    "enroll.choose": "Pilih",
    "enroll.consent.title": "Persetujuan data biometrik",
    "enroll.consent.body": (
        "Sesuai UU No. 27 Tahun 2022 tentang Pelindungan Data Pribadi, data "
        "wajah dan sidik jari adalah data pribadi yang bersifat spesifik. Data ini hanya "
        "dipakai untuk absensi di {opd}, disimpan terenkripsi, dan dapat "
        "dihapus kapan saja atas permintaan Anda."
    ),
    "enroll.consent.agree": "Saya setuju",
    "enroll.consent.decline": "Tidak setuju",
    "enroll.capture.title": "Pengambilan wajah {done}/{total}",
    "enroll.pose.front": "Lihat lurus",
    "enroll.pose.left": "Toleh sedikit ke kiri",
    "enroll.pose.right": "Toleh sedikit ke kanan",
    "enroll.pose.up": "Angkat dagu sedikit",
    "enroll.pose.down": "Tundukkan kepala sedikit",
    "enroll.duplicate": "Wajah ini sudah terdaftar atas nama {name} ({nip})",
    "enroll.save": "Simpan",
    "enroll.inconsistent": "Wajah berganti orang. Ulangi dengan satu orang saja",
    "enroll.saved": "Wajah {name} tersimpan ({count} sampel)",
    "enroll.retry": "Ulangi",
    "enroll.cancel": "Batal",
    "enroll.finger.agree": "Setuju, daftarkan sidik jari",
    "enroll.finger.title": "Pendaftaran sidik jari: {name}",
    "enroll.finger.place": "Letakkan satu jari di sensor",
    "enroll.finger.lift": "Angkat jari",
    "enroll.finger.place_again": "Letakkan lagi jari yang sama",
    "enroll.finger.smudged": "Sidik jari kurang jelas. Angkat, bersihkan jari, lalu letakkan lagi",
    "enroll.finger.storing": "Menyimpan...",
    "enroll.finger.saved": "Sidik jari {name} tersimpan (slot {slot})",
    "enroll.finger.duplicate": "Sidik jari ini sudah terdaftar untuk NIP {nip}",
    "enroll.finger.duplicate_unknown": (
        "Sidik jari ini sudah ada di sensor (slot {slot}) tanpa pegawai di kiosk ini"
    ),
    "people.search": "Cari pegawai",
    "people.templates": "{count} sampel",
    "people.enrolled": "didaftarkan {date}",
    "people.not_enrolled": "belum didaftarkan",
    "people.erase": "Hapus data wajah",
    "people.erase.confirm": "Hapus semua data wajah {name}? Tekan sekali lagi.",
    "people.erased": "Data wajah {name} dihapus",
    "device.title": "Perangkat",
    "device.camera": "Kamera",
    "device.clock": "Jam",
    "device.queue": "Antrean sinkron",
    "device.last_sync": "Sinkron terakhir",
    "device.last_error": "Galat terakhir",
    "device.server": "Server",
    "device.disk": "Ruang disk",
    "device.version": "Versi",
    "device.temperature": "Suhu CPU",
    "device.uptime": "Menyala sejak boot",
    "device.sync_now": "Sinkronkan sekarang",
    "device.export": "Ekspor CSV",
    "device.server_url": "Alamat server (https://...)",
    "device.code": "Kode pendaftaran",
    "device.register": "Daftarkan",
    "device.register_failed": "Pendaftaran gagal: {reason}",
    "device.registered": (
        "Terdaftar untuk OPD {opd}. Sinkron aktif setelah kiosk dimulai ulang (Keluar mode kiosk)"
    ),
    "device.export_path": "Lokasi file (USB)",
    "device.exported": "{count} absensi diekspor ke {path}",
    "device.leave": "Keluar mode kiosk",
    "device.never": "belum pernah",
    "device.none": "-",
    "device.camera.ok": "tersambung",
    "device.camera.lost": "terputus",
    "clock.synced": "tersinkron",
    "clock.unsynced": "belum tersinkron",
    "clock.suspect": "diragukan",
    "weekday.0": "Senin",
    "weekday.1": "Selasa",
    "weekday.2": "Rabu",
    "weekday.3": "Kamis",
    "weekday.4": "Jumat",
    "weekday.5": "Sabtu",
    "weekday.6": "Minggu",
    "month.1": "Januari",
    "month.2": "Februari",
    "month.3": "Maret",
    "month.4": "April",
    "month.5": "Mei",
    "month.6": "Juni",
    "month.7": "Juli",
    "month.8": "Agustus",
    "month.9": "September",
    "month.10": "Oktober",
    "month.11": "November",
    "month.12": "Desember",
    "tz": "WIB",
}

_EN: Final[Mapping[str, str]] = {
    "ready": "Please look at the camera",
    "ready.sub": "Stand about 50 cm from the screen",
    "guidance.generic": "Face the camera",
    "guidance.no_face": "Please look at the camera",
    "guidance.too_small": "Come closer to the camera",
    "guidance.too_far": "Come closer to the camera",
    "guidance.too_close": "Step back a little",
    "guidance.too_large": "Step back a little",
    "guidance.blurred": "Hold still",
    "guidance.blurry": "Hold still",
    "guidance.too_dark": "Too dark",
    "guidance.too_bright": "Too bright",
    "guidance.turned": "Face the camera",
    "guidance.pose": "Face the camera",
    "guidance.multiple_faces": "One person at a time",
    "guidance.several_faces": "One person at a time",
    "guidance.cut_off": "Centre your face",
    "guidance.off_center": "Centre your face",
    "guidance.hold_still": "Hold on...",
    "guidance.checking": "Checking...",
    "guidance.spoof": "Use your real face, not a photo",
    "challenge.blink": "Blink your eyes",
    "challenge.turn_left": "Turn your head left",
    "challenge.turn_right": "Turn your head right",
    "challenge.failed": "Verification failed, try again",
    "camera.lost": "Camera disconnected. Reconnecting...",
    "camera.starting": "Starting the camera...",
    "worker.restarted": "Face recognition restarted",
    "result.success": "Recorded",
    "result.direction.masuk": "IN",
    "result.direction.pulang": "OUT",
    "result.duplicate": "Already recorded at {time}",
    "result.not_recognised": "Face not recognised",
    "result.finger_unknown": "Fingerprint not recognised",
    "finger.error": "The fingerprint sensor does not respond",
    "result.not_recognised.sub": "Use your NIP and PIN",
    "result.error": "Could not record: {reason}",
    "result.pin_snapshot": "PIN punch (face photo kept for review)",
    "result.on_time": "On time",
    "pin.title": "Punch with NIP + PIN",
    "pin.enter_nip": "Enter your NIP (18 digits)",
    "pin.enter_pin": "Enter your PIN",
    "pin.wrong": "Wrong NIP or PIN",
    "pin.locked": "Too many wrong PINs for this NIP. Try again in {minutes} min",
    "pin.nip_invalid": "A NIP has 18 digits",
    "pin.button": "NIP + PIN",
    "key.ok": "OK",
    "key.back": "Delete",
    "key.cancel": "Cancel",
    "sync.online": "Online",
    "sync.offline": "Offline",
    "sync.disabled": "Local",
    "sync.pending": "{count} waiting",
    "sync.unregistered": "Device not registered",
    "admin.title": "Admin mode",
    "admin.enter_pin": "Enter the admin PIN",
    "admin.wrong_pin": "Wrong PIN ({left} attempts left)",
    "admin.locked": "Locked. Try again in {seconds} s",
    "admin.not_set": "No admin PIN yet: create one now (or run 'hadir setup')",
    "setup.title": "First start",
    "setup.pin_new": "Create a new admin PIN (6-12 digits)",
    "setup.pin_repeat": "Repeat the admin PIN",
    "setup.pin_short": "The admin PIN needs at least 6 digits",
    "setup.pin_mismatch": "The PINs differ; start again",
    "admin.menu.enroll": "Enroll a face",
    "admin.menu.enroll_finger": "Enroll a face / fingerprint",
    "admin.menu.people": "People",
    "admin.menu.device": "Device",
    "admin.menu.exit": "Back to attendance",
    "admin.back": "Back",
    "enroll.search": "Find an employee (NIP or name)",
    "enroll.search.none": "No matching employee",
    "enroll.choose": "Choose",
    "enroll.consent.title": "Consent to biometric data",
    "enroll.consent.body": (
        "Under Law No. 27 of 2022 on Personal Data Protection, face and "
        "fingerprint data are specific personal data. It is used only for attendance at {opd}, "
        "stored encrypted, and can be erased at any time at your request."
    ),
    "enroll.consent.agree": "I agree",
    "enroll.consent.decline": "I do not agree",
    "enroll.capture.title": "Face capture {done}/{total}",
    "enroll.pose.front": "Look straight ahead",
    "enroll.pose.left": "Turn slightly to the left",
    "enroll.pose.right": "Turn slightly to the right",
    "enroll.pose.up": "Raise your chin a little",
    "enroll.pose.down": "Lower your head a little",
    "enroll.duplicate": "This face is already enrolled as {name} ({nip})",
    "enroll.save": "Save",
    "enroll.inconsistent": "The face changed to another person. Retry with one person only",
    "enroll.saved": "Face of {name} saved ({count} samples)",
    "enroll.retry": "Retry",
    "enroll.cancel": "Cancel",
    "enroll.finger.agree": "I agree, enroll a fingerprint",
    "enroll.finger.title": "Fingerprint enrollment: {name}",
    "enroll.finger.place": "Place one finger on the sensor",
    "enroll.finger.lift": "Lift your finger",
    "enroll.finger.place_again": "Place the same finger again",
    "enroll.finger.smudged": "The print is unclear. Lift, wipe your finger and place it again",
    "enroll.finger.storing": "Saving...",
    "enroll.finger.saved": "Fingerprint of {name} saved (slot {slot})",
    "enroll.finger.duplicate": "This finger is already enrolled for NIP {nip}",
    "enroll.finger.duplicate_unknown": (
        "This finger is already in the sensor (slot {slot}) with no employee on this kiosk"
    ),
    "people.search": "Find an employee",
    "people.templates": "{count} samples",
    "people.enrolled": "enrolled {date}",
    "people.not_enrolled": "not enrolled",
    "people.erase": "Erase face data",
    "people.erase.confirm": "Erase all face data of {name}? Press again.",
    "people.erased": "Face data of {name} erased",
    "device.title": "Device",
    "device.camera": "Camera",
    "device.clock": "Clock",
    "device.queue": "Sync queue",
    "device.last_sync": "Last sync",
    "device.last_error": "Last error",
    "device.server": "Server",
    "device.disk": "Disk space",
    "device.version": "Version",
    "device.temperature": "CPU temperature",
    "device.uptime": "Up since boot",
    "device.sync_now": "Sync now",
    "device.export": "Export CSV",
    "device.server_url": "Server address (https://...)",
    "device.code": "Enrollment code",
    "device.register": "Register",
    "device.register_failed": "Registration failed: {reason}",
    "device.registered": "Registered for OPD {opd}. Sync starts when the kiosk restarts (Leave)",
    "device.export_path": "File location (USB)",
    "device.exported": "{count} punches exported to {path}",
    "device.leave": "Leave kiosk mode",
    "device.never": "never",
    "device.none": "-",
    "device.camera.ok": "connected",
    "device.camera.lost": "disconnected",
    "clock.synced": "synchronised",
    "clock.unsynced": "not synchronised",
    "clock.suspect": "suspect",
    "weekday.0": "Monday",
    "weekday.1": "Tuesday",
    "weekday.2": "Wednesday",
    "weekday.3": "Thursday",
    "weekday.4": "Friday",
    "weekday.5": "Saturday",
    "weekday.6": "Sunday",
    "month.1": "January",
    "month.2": "February",
    "month.3": "March",
    "month.4": "April",
    "month.5": "May",
    "month.6": "June",
    "month.7": "July",
    "month.8": "August",
    "month.9": "September",
    "month.10": "October",
    "month.11": "November",
    "month.12": "December",
    "tz": "WIB",
}

CATALOGUES: Final[Mapping[str, Mapping[str, str]]] = {"id": _ID, "en": _EN}


@dataclass(frozen=True)
class Catalogue:
    """Looks up screen text in one language; ``text(key, **params)`` formats it."""

    language: str = "id"

    def __post_init__(self) -> None:
        if self.language not in CATALOGUES:
            raise ValueError(
                f"unknown language {self.language!r}; choose one of {', '.join(LANGUAGES)}"
            )

    def text(self, key: str, **params: object) -> str:
        template = CATALOGUES[self.language][key]
        return template.format(**params) if params else template

    def guidance(self, code: str) -> str:
        """Text for a quality-gate code; unknown codes get a generic instruction."""
        table = CATALOGUES[self.language]
        return table.get(f"guidance.{code}", table["guidance.generic"])

    def challenge(self, code: str) -> str:
        table = CATALOGUES[self.language]
        return table.get(f"challenge.{code}", table["guidance.generic"])

    def has(self, key: str) -> bool:
        return key in CATALOGUES[self.language]
