"""The reference central server of Hadir (``hadir server``).

Modules: ``app`` (``create_app``, the composition root and the routes),
``schemas`` (request/response bodies), ``devices`` (enrollment codes,
registration, tokens, health), ``ingest`` (punch batches: signature, chain,
idempotent insert), ``roster`` (employees, templates, documents and the change
feed), ``reports`` (admin punch lists), ``adms`` (ZKTeco iclock ingest),
``db``/``models``/``migrations`` (SQLite or PostgreSQL, Alembic), ``http``
(body limit, access log, JSON errors), ``logs``, ``settings``, ``commands``.
The HTTP contract is ``server/API.md``.
"""
