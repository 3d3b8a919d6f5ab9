"""Quick start: one market, three traders, orders that mint, transfer and merge."""

from probo_engine import Engine, Outcome, Side

BUY, SELL, YES, NO = Side.BUY, Side.SELL, Outcome.YES, Outcome.NO
eng = Engine()
m = eng.create_market(symbol="RAIN-TOMORROW")  # payout 1000 paise (₹10), tick 50
for name in ("asha", "bilal", "chen"):
    eng.deposit(eng.create_user(name=name), 10_000)  # ₹100 each

eng.submit("asha", m, BUY, YES, 600, 10)  # rests: a YES bid at 600
for who, side, outcome, price, qty in [
    ("bilal", BUY, NO, 400, 10),  # NO 400 = YES ask 600: crosses, mints 10 pairs
    ("asha", SELL, YES, 700, 6),  # rests: a YES ask at 700
    ("chen", BUY, YES, 750, 4),  # takes 4 at the maker's 700: a transfer
    ("bilal", SELL, NO, 250, 2),  # NO 250 = YES bid 750: merges 2 pairs with asha
    ("chen", BUY, YES, 550, 5),  # rests: a YES bid at 550
]:
    r = eng.submit(who, m, side, outcome, price, qty)
    print(
        f"{who:>5} {side.name} {outcome.name} {price} x{qty}: {r.status.name}",
        [(f.kind.name, f.qty, f.taker_price) for f in r.fills],
        f"resting {r.resting}",
    )

print("YES book:", eng.book(m, YES), "\nNO book: ", eng.book(m, NO))
for name in ("asha", "bilal", "chen"):
    ya, yl, na, nl = eng.position(eng.user_id(name), m)
    print(f"{name:>5}: cash {eng.balances(name)}  YES {ya}+{yl}  NO {na}+{nl} locked")
eng.check_invariants()  # cash + payout x outstanding pairs == deposits, and more
