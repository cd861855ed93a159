"""Templates of both embedding models travel kiosk -> server -> feed -> kiosk with
their model name and version, and the server's drop of the old model reaches kiosks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from recognition.modelinfo import DLIB_NAME, DLIB_VERSION, REID_NAME, REID_VERSION
from sync.serverproc import AdminApi, ServerProcess
from sync.simkiosk import SimKiosk


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("server")) as srv:
        yield srv


def test_both_models_flow_between_kiosks(tmp_path: Path, server: ServerProcess) -> None:
    admin = AdminApi(server.url, server.admin_token())
    a = SimKiosk.create(tmp_path / "a", "kiosk-ma", people=2)
    b = SimKiosk.create(tmp_path / "b", "kiosk-mb", people=1)
    try:
        a.register(server.url, admin.enrollment_code())
        b.register(server.url, admin.enrollment_code())
        nip = a.nips[0]
        csv = "nip,name,opd,type,schedule_group\n" + "".join(
            f"{n},Pegawai {i},DISKOMINFO,PNS,default\n" for i, n in enumerate(a.nips)
        )
        assert admin.import_employees(csv)["errors"] == []
        old = np.linspace(-0.2, 0.2, 128).astype(np.float32)
        new = np.linspace(-0.1, 0.1, 256).astype(np.float32)
        new /= np.linalg.norm(new)
        t_old = a.store.templates.add(nip, old, DLIB_NAME, DLIB_VERSION)
        t_new = a.store.templates.add(nip, new, REID_NAME, REID_VERSION)
        assert a.worker().run_once().templates_uploaded == 2
        b.worker().run_once()
        got = {info.template_id: (info, vec) for info, vec in b.store.templates.for_person(nip)}
        assert set(got) == {t_old, t_new}
        assert (got[t_new][0].model, got[t_new][0].model_version) == (REID_NAME, REID_VERSION)
        assert got[t_new][1].shape == (256,) and np.allclose(got[t_new][1], new)
        assert (got[t_old][0].model, got[t_old][0].model_version) == (DLIB_NAME, DLIB_VERSION)
        assert got[t_old][1].shape == (128,)
        rows = b.store.templates.all_for_scope(None, REID_NAME, REID_VERSION)
        assert [(n, t) for n, t, _ in rows] == [(nip, t_new)]
    finally:
        a.close()
        b.close()
