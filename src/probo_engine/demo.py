"""A short tour of the engine: ``python -m probo_engine demo``.

One market on the default grid (payout ₹10 = 1000 paise, tick 50), three
traders, and orders that mint, transfer and merge shares; then the book in both
outcomes' terms and every balance, which always add up.
"""

from __future__ import annotations

from probo_engine.engine import Engine
from probo_engine.types import Outcome, Side

BUY, SELL, YES, NO = Side.BUY, Side.SELL, Outcome.YES, Outcome.NO


def _rupees(paise: int) -> str:
    return f"₹{paise / 100:,.2f}"


def run(out: list[str] | None = None) -> Engine:
    """Run the tour, appending printable lines to ``out``; return the engine."""
    lines = out if out is not None else []
    eng = Engine()
    m = eng.create_market(symbol="RAIN-MUMBAI-TOMORROW")
    for name in ("asha", "bilal", "chen"):
        eng.create_user(name=name)
        eng.deposit(eng.user_id(name), 100_000)  # ₹1,000 each
    lines.append("market RAIN-MUMBAI-TOMORROW: payout ₹10.00, tick ₹0.50")

    def order(who: str, side: Side, outcome: Outcome, price: int, qty: int) -> None:
        r = eng.submit(who, m, side, outcome, price, qty)
        what = f"{who:>5} {side.name.lower()} {outcome.name} @ {_rupees(price)} x{qty}"
        fills = ", ".join(
            f"{f.kind.name.lower()} {f.qty} @ {_rupees(f.taker_price)}" for f in r.fills
        )
        lines.append(
            f"{what:<34} -> {r.status.name} id={r.oid} filled={r.filled}"
            f" resting={r.resting}" + (f"  [{fills}]" if fills else "")
        )

    order("asha", BUY, YES, 600, 10)  # rests as a bid at YES 6.00
    order("bilal", BUY, NO, 400, 10)  # NO 4.00 = YES ask 6.00: mint 10 pairs
    order("asha", SELL, YES, 650, 4)  # rests as an ask at YES 6.50
    order("chen", BUY, YES, 700, 4)  # transfer at the maker's 6.50, chen saves 0.50
    order("chen", SELL, YES, 750, 3)  # rests as an ask at YES 7.50
    order("bilal", SELL, NO, 300, 3)  # = YES bid 7.00, below 7.50: rests
    order("bilal", SELL, NO, 200, 3)  # = YES bid 8.00, crosses 7.50: merge 3 pairs
    order("asha", BUY, YES, 550, 5)  # rests

    lines.append("")
    for outcome in (YES, NO):
        d = eng.book(m, outcome)
        lines.append(
            f"{outcome.name} book   bids: "
            + ", ".join(f"{_rupees(lv.price)} x{lv.qty}" for lv in d.bids)
            + "   asks: "
            + ", ".join(f"{_rupees(lv.price)} x{lv.qty}" for lv in d.asks)
        )
    lines.append("")
    total = 0
    for name in ("asha", "bilal", "chen"):
        uid = eng.user_id(name)
        avail, locked = eng.balance(uid)
        ya, yl, na, nl = eng.position(uid, m)
        total += avail + locked
        lines.append(
            f"{name:>5}: cash {_rupees(avail)} (+{_rupees(locked)} locked)  "
            f"YES {ya}+{yl} locked  NO {na}+{nl} locked"
        )
    payout, _, _, pairs = eng.market(m)
    lines.append(
        f"outstanding pairs {pairs}: cash {_rupees(total)} + pairs x ₹10 "
        f"{_rupees(pairs * payout)} = {_rupees(total + pairs * payout)} deposited"
    )
    eng.check_invariants()
    return eng


def main() -> None:
    lines: list[str] = []
    run(lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
