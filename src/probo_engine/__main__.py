"""``python -m probo_engine [demo]``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    cmd = args[0] if args else "demo"
    if cmd == "demo":
        from probo_engine.demo import main as demo

        demo()
        return 0
    print(
        f"usage: python -m probo_engine demo   (unknown command {cmd!r})",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
