"""Two server processes draining the ledger queue at once, while punches keep arriving,
on PostgreSQL: no key is lost, none is counted twice, the result equals a rebuild."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, func, select, text
from sqlalchemy.engine import make_url
from test_ledger import make_env, wib
from test_server import PG_ENV

from server.ledger_models import LedgerDay, LedgerJob

REPO = Path(__file__).resolve().parent.parent
WORKER = """
import sys, time
from datetime import datetime
from pathlib import Path
from server.db import open_database
from server.ledger_api import build_ledger_services
from server.settings import ServerSettings
url, now, tmp = sys.argv[1], datetime.fromisoformat(sys.argv[2]), sys.argv[3]
settings = ServerSettings(database_url=url, admin_token_file=Path(tmp) / "t", clock=lambda: now)
db = open_database(url)
ledger = build_ledger_services(db, settings).ledger
idle_since = time.monotonic()
total = 0
while time.monotonic() - idle_since < 3.0:
    n = ledger.drain(batch=50)
    total += n
    if n:
        idle_since = time.monotonic()
    else:
        time.sleep(0.05)
print(total)
"""


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} not set: PostgreSQL tests run in CI (.ci/run)")
    schema = f"hadir_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.postgres
def test_two_processes_drain_while_punches_arrive(tmp_path: Path, pg_url: str) -> None:
    e = make_env(tmp_path, pg_url, wib("2026-02-01 08:00"))
    try:
        lines = ["nip,name,opd,type,schedule_group"]
        nips = [f"19800101200001{i:04d}" for i in range(60)]
        lines += [f"{nip},Pegawai {i},DISKOMINFO,PNS,default" for i, nip in enumerate(nips)]
        assert e.roster.import_csv(("\n".join(lines) + "\n").encode(), e.clock())["errors"] == []
        e.svc.ledger.catch_up()
        e.clock.now = wib("2026-03-02 09:00")
        e.svc.ledger.queue_ended_days(e.clock())  # Feb 1 .. Mar 2 for everyone
        days = [date(2026, 2, 2) + timedelta(days=i) for i in range(26)]
        first_half = [
            f"{nip},{d} 07:{10 + i % 40:02d}:00,lama"
            for i, nip in enumerate(nips)
            for d in days[::2]
        ]
        assert e.punches(*first_half)["errors"] == []
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, pg_url, e.clock().isoformat(), str(tmp_path)],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        # Late punches arrive while both workers drain.
        late = [f"{nip},{d} 16:{i % 50:02d}:00,kiosk" for i, nip in enumerate(nips) for d in days]
        for i in range(0, len(late), 100):
            assert e.punches(*late[i : i + 100])["errors"] == []
        outputs = [w.communicate(timeout=300) for w in workers]
        for w, (_out, err) in zip(workers, outputs, strict=True):
            assert w.returncode == 0, err
        computed = [int(out.strip()) for out, _ in outputs]
        assert all(n > 0 for n in computed), computed  # both took part
        e.svc.ledger.drain()
        with e.db.read() as conn:
            assert conn.execute(select(func.count()).select_from(LedgerJob)).scalar() == 0
        first, last = date(2026, 2, 1), date(2026, 3, 2)
        incremental = e.rows(first, last)
        with e.db.write() as conn:
            conn.execute(delete(LedgerDay))
        e.svc.ledger.rebuild(first, last)
        assert e.rows(first, last) == incremental
        recap = e.svc.recaps.monthly("DISKOMINFO", "2026-02")
        one = next(r for r in recap["employees"] if r["nip"] == nips[0])
        # 20 working days in Feb 2026 (no calendar here), each with a 16:xx punch, so
        # every one is present once; the mornings without a punch are single punches.
        assert one["working_days"] == 20
        assert one["present_days"] == 20 and one["tk_days"] == 0
    finally:
        e.db.dispose()
