"""``python -m probo_engine [demo | --help | --version]``."""

from __future__ import annotations

import sys

USAGE = """\
usage: python -m probo_engine [demo | --help | --version]

  demo        run a short demonstration of the matching engine (the default)
  --help, -h  show this message
  --version   print the version

The reference server is the separate `probo` command (extra [server])."""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    cmd = args[0] if args else "demo"
    if cmd in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if cmd in ("-V", "--version"):
        from probo_engine import __version__

        print(f"probo_engine {__version__}")
        return 0
    if cmd == "demo" and len(args) <= 1:
        from probo_engine.demo import main as demo

        demo()
        return 0
    print(f"{USAGE}\n\nerror: unknown command {' '.join(args)!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
