"""``python -m probo_engine.server``: the ``probo`` command."""

from probo_engine.server.cli import main

raise SystemExit(main())
