"""The README's code and its command table run as written."""

import re
from pathlib import Path

from probo_engine import Engine, FeeMode, FillKind, Outcome, Side, TimeInForce

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_readme_python_block_runs():
    (block,) = re.findall(r"```python\n(.*?)```", README, re.S)
    ns: dict = {}
    exec(compile(block, "README.md", "exec"), ns)
    eng = ns["eng"]
    assert ns["r"].fills[0].kind == FillKind.MINT
    assert eng.balance(0) == (10_000 - 6000 + 10 * 1000, 0)


def test_command_table_examples_run():
    eng = Engine()
    m = eng.create_market()
    u = eng.create_user()
    assert eng.create_market(100, 1, 0, 700, 0, FeeMode.CURVE) == 1
    assert eng.deposit(u, 50_000) == 0
    now = 1_000
    oid = eng.place(
        u,
        m,
        Side.BUY,
        Outcome.NO,
        300,
        5,
        TimeInForce.GTD,
        0,
        now,
        False,
        17,
        now + 60_000_000_000,
    )
    assert oid == 1 and eng.order_by_client_id(u, 17)[1] == 1
    assert eng.amend(u, oid, 300, 3) == 0
    assert eng.mint(u, m, 10) == 0
    v = eng.create_user()
    eng.deposit(v, 5_000)
    assert eng.place_market(v, m, Side.BUY, Outcome.YES, 10, 5_000) > 0
    assert eng.last_filled == 3  # the NO bid at 300 is a YES ask at 700
    assert eng.cancel_client(u, 17) == -302  # order 1 was filled
    assert eng.cancel_all(u, m) == 0
    assert eng.halt(m) == 0 and eng.resume(m) == 0 and eng.close(m) == 0
    assert eng.resolve(m, 1000) == 0
    assert eng.expire(now) == 0
    eng.check_invariants()
