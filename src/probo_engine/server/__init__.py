"""The reference server: HTTP API (``/v1`` and the seed's routes), auth, CLI.

Built only from the library and its adapters; imports its third-party
packages (starlette, msgspec, uvicorn, argon2, cryptography,
prometheus-client) when its modules are imported, never from
``import probo_engine``.  Start with :func:`probo_engine.server.app.create_app`
or the ``probo`` command; see docs/server.md.
"""
