"""``hadir bench-kiosk`` (filled in below)."""
