"""The archiver as its own process, for the kill tests: archive an entry file
into a store until killed.

    python history_kill_child.py STORE_URL ENTRY_FILE
"""

from __future__ import annotations

import asyncio
import logging
import sys

from history_file_source import FileEntrySource

from probo_engine.adapters.history import ArchiverConfig, run_archiver


async def main(url: str, path: str) -> None:
    config = ArchiverConfig(
        url,
        FileEntrySource(path),
        batch_entries=300,
        read_timeout=0.2,
        retry_initial=0.05,
        retry_max=0.5,
        connect_timeout=2.0,
        command_timeout=20.0,
    )
    await run_archiver(config)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
