"""A child process for the embedded kill test: an InProcessBus on a
LocalEntryLog behind a line protocol on a local TCP socket.

    python embedded_child.py DATA_DIR PORT_FILE

Request lines ``<key> <command hex>``; reply lines ``<key> <seq> <result>
<duplicate 0|1>`` once the command is durable (or ``<key> ERR <message>``).
The port is written to PORT_FILE (atomically) once the log is recovered.
"""

from __future__ import annotations

import asyncio
import os
import sys

from probo_engine import commands
from probo_engine.adapters.locallog import open_bus


async def main(data: str, port_file: str) -> None:
    bus = open_bus(data, snapshot_every=700, segment_bytes=64 << 10)
    try:
        async with bus:

            async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                async def one(line: bytes) -> None:
                    key, hexcmd = line.split()
                    try:
                        cmd = commands.decode(bytes.fromhex(hexcmd.decode()))
                        rep = await bus.submit(cmd, key, timeout=30)
                        dup = int(rep.duplicate)
                        out = f"{key.decode()} {rep.seq} {rep.result} {dup}"
                    except Exception as exc:  # reported to the driver, which fails
                        out = f"{key.decode()} ERR {exc!r}"
                    w.write(out.encode() + b"\n")

                async with asyncio.TaskGroup() as tg:
                    while line := await r.readline():
                        tg.create_task(one(line))
                w.close()

            server = await asyncio.start_server(serve, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            with open(port_file + ".tmp", "w") as f:
                f.write(str(port))
            os.replace(port_file + ".tmp", port_file)
            async with server:
                await server.serve_forever()
    finally:
        bus.log.close()  # type: ignore[union-attr]


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
