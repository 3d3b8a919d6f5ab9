"""probo_engine.sim: determinism, conservation, zero-sum P&L, convergence.

Runs are small (tens of thousands of steps, well under a second each) and every
assertion is about the arrays a run returns, never about how long it took.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from probo_engine import Engine, Outcome, Side
from probo_engine.sim import (
    AGENT_TYPES,
    AgentType,
    ProgressBar,
    SimConfig,
    SimResult,
    simulate,
)
from probo_engine.sim.settlement import payout_from_positions, resolve

GRIDS = [
    pytest.param(1000, 50, id="payout1000-tick50"),
    pytest.param(100, 1, id="payout100-tick1"),
]

# One run per grid (with and without fees) shared by the tests that only read it.
_CACHE: dict[tuple, SimResult] = {}


def run(**kw) -> SimResult:
    key = tuple(sorted(kw.items()))
    if key not in _CACHE:
        _CACHE[key] = simulate(**{"n_steps": 30_000, "seed": 3, **kw})
    return _CACHE[key]


def arrays(res: SimResult) -> dict[str, bytes]:
    """Every array of a result, as bytes (NaN-safe exact comparison)."""
    out = {
        "trades": res.trades.tobytes(),
        "prices": res.prices.tobytes(),
        "agents": res.agents.tobytes(),
    }
    for group in ("depth", "holdings"):
        obj = getattr(res, group)
        for f in dataclasses.fields(obj):
            out[f"{group}.{f.name}"] = np.ascontiguousarray(
                getattr(obj, f.name)
            ).tobytes()
    return out


def stats(res: SimResult) -> dict:
    return {
        k: v for k, v in res.stats.items() if k not in ("elapsed_s", "orders_per_s")
    }


# ----------------------------------------------------------------- determinism


@pytest.mark.parametrize(("payout", "tick"), GRIDS)
def test_same_seed_gives_identical_arrays(payout, tick):
    a = simulate(n_steps=20_000, seed=11, payout=payout, tick=tick)
    b = simulate(SimConfig(n_steps=20_000, seed=11, payout=payout, tick=tick))
    assert arrays(a) == arrays(b)
    assert stats(a) == stats(b)
    assert a.yes_won == b.yes_won
    assert a.engine.last_seq == b.engine.last_seq  # the same number of events
    assert a.engine.totals() == b.engine.totals()


def test_another_seed_gives_another_run():
    a = simulate(n_steps=5_000, seed=1)
    b = simulate(n_steps=5_000, seed=2)
    assert a.trades.tobytes() != b.trades.tobytes()


def test_chunking_and_progress_bar_do_not_change_the_run(capsys):
    a = simulate(n_steps=12_000, seed=5)
    b = simulate(n_steps=12_000, seed=5, _chunk=777, progress=True)
    assert arrays(a) == arrays(b)
    err = capsys.readouterr().err
    assert "12,000/12,000 steps" in err and "100%" in err


def test_progress_bar_is_off_by_default(capsys):
    simulate(n_steps=2_000)
    assert capsys.readouterr().err == ""


def test_progress_bar_draws_and_closes():
    import io

    out = io.StringIO()
    bar = ProgressBar(200, stream=out, width=10, interval=0)
    bar.update(60)
    bar.update(40)
    bar.close()
    bar.close()  # idempotent
    text = out.getvalue()
    assert "[###.......]  30%" in text.replace("\r", "\n")
    assert text.endswith("\n") and text.count("\n") == 1
    assert "200/200 steps" in text.splitlines()[-1].split("\r")[-1]


# ------------------------------------------------------------------ accounting


@pytest.mark.parametrize(("payout", "tick"), GRIDS)
@pytest.mark.parametrize(
    "fees", [{}, {"taker_fee": 150, "maker_fee": -30}], ids=["nofee", "fees"]
)
def test_cash_and_shares_add_up_to_deposits_at_every_sample(payout, tick, fees):
    res = run(payout=payout, tick=tick, **fees)
    h = res.holdings
    deposits = int(res.agents["deposit"].sum())
    assert len(h) == res.config.n_steps // res.config.sample_every
    assert (h.yes.sum(axis=1) == h.no.sum(axis=1)).all()  # YES outstanding = NO
    total = h.cash.sum(axis=1) + h.fees + payout * h.yes.sum(axis=1)
    assert (total == deposits).all()
    assert (h.cash >= 0).all() and (h.yes >= 0).all() and (h.no >= 0).all()
    assert h.yes.sum(axis=1).max() > 0  # shares were minted along the way
    if fees:
        assert h.fees[-1] > 0 and (np.diff(h.fees) >= 0).all()
    else:
        assert (h.fees == 0).all()
    res.engine.check_invariants()


@pytest.mark.parametrize(("payout", "tick"), GRIDS)
def test_pnl_sums_to_zero_without_fees(payout, tick):
    res = run(payout=payout, tick=tick)
    a = res.agents
    assert int(a["pnl"].sum()) == 0
    assert (a["fees"] == 0).all() and (a["pnl"] == a["pnl_before_fees"]).all()
    assert sum(res.pnl_by_type().values()) == 0
    assert abs(float(a["pnl_expected"].sum())) < 1e-6 * payout * len(a)
    # Marked to market at every sample, the agents' P&L sums to zero as well.
    assert np.allclose(res.mtm_pnl().sum(axis=1), 0.0, atol=1e-6 * payout)


@pytest.mark.parametrize(("payout", "tick"), GRIDS)
def test_pnl_sums_to_zero_before_fees(payout, tick):
    res = run(payout=payout, tick=tick, taker_fee=150, maker_fee=-30)
    a = res.agents
    fee_account = res.stats["fee_account"]
    assert fee_account > 0
    assert int(a["pnl_before_fees"].sum()) == 0
    assert int(a["fees"].sum()) == fee_account == res.engine.fees()
    assert int(a["pnl"].sum()) == -fee_account
    assert (
        int(res.trades["taker_fee"].sum() + res.trades["maker_fee"].sum())
        == fee_account
    )
    assert (res.trades["maker_fee"] <= 0).all()  # the maker fee is a rebate here


@pytest.mark.parametrize(
    "fees", [{}, {"taker_fee": 100, "maker_fee": 20}], ids=["nofee", "fees"]
)
def test_trades_account_for_every_share_and_every_paisa(fees):
    """Replaying the trade records gives each agent's final shares and cash."""
    res = run(**fees)
    t, a, U = res.trades, res.agents, res.payout
    n = len(a)
    yes = np.zeros(n, dtype=np.int64)
    no = np.zeros(n, dtype=np.int64)
    cash = a["deposit"].copy()
    for row in t:
        q, x, kind = int(row["qty"]), int(row["price"]), int(row["kind"])
        t_out, t_sell = int(row["taker_outcome"]), int(row["taker_side"]) == Side.SELL
        # The maker's order: same outcome and the other action (transfer), or
        # the other outcome and the same action (mint: both buy, merge: both sell).
        m_out = t_out if kind == 0 else 1 - t_out
        m_sell = (not t_sell) if kind == 0 else t_sell
        for who, out, sell, fee in (
            (row["taker"], t_out, t_sell, row["taker_fee"]),
            (row["maker"], m_out, m_sell, row["maker_fee"]),
        ):
            price = x if out == Outcome.YES else U - x
            sign = -1 if sell else 1
            (yes if out == Outcome.YES else no)[who] += sign * q
            cash[who] -= sign * q * price + fee
    assert (yes == a["yes"]).all() and (no == a["no"]).all()
    assert (cash == a["cash"]).all()


@pytest.mark.parametrize("outcome", [True, False])
def test_resolution_pays_winning_shares_through_the_core(outcome):
    res = simulate(n_steps=15_000, seed=4, outcome=outcome)
    a, U = res.agents, res.payout
    assert res.yes_won is outcome
    expected = payout_from_positions(a["yes"], a["no"], U, U if outcome else 0)
    assert (a["payout"] == expected).all()
    assert (a["final_cash"] == a["cash"] + a["payout"]).all()
    eng = res.engine
    payout, _, status, outstanding = eng.market(res.market)
    assert (payout, status, outstanding) == (U, 3, 0)  # RESOLVED, shares burned
    for row in a:
        assert eng.balance(int(row["user"])) == (int(row["final_cash"]), 0)
        assert eng.position(int(row["user"]), res.market) == (0, 0, 0, 0)
    eng.check_invariants()


def test_outcome_drawn_from_true_prob_is_seeded():
    wins = [simulate(n_steps=200, seed=s, true_prob=0.8).yes_won for s in range(40)]
    again = [simulate(n_steps=200, seed=s, true_prob=0.8).yes_won for s in range(40)]
    assert wins == again
    assert 20 <= sum(wins) <= 39  # ~32 expected
    assert not any(
        simulate(n_steps=100, seed=s, true_prob=0.0).yes_won for s in range(5)
    )


def test_stand_in_resolution_without_a_core_resolve_command():
    """The fallback pays from final positions and cancels resting orders."""
    eng = Engine()
    m = eng.create_market(1000, 50)
    a, b = eng.create_user(), eng.create_user()
    eng.deposit(a, 100_000)
    eng.deposit(b, 100_000)
    eng.place(a, m, Side.BUY, Outcome.YES, 600, 10)
    eng.place(b, m, Side.BUY, Outcome.NO, 400, 10)  # mint 10 pairs at 600
    eng.place(a, m, Side.BUY, Outcome.YES, 300, 5)  # rests, 1500 locked

    class NoResolve:  # the engine as it was before `resolve` existed
        def __init__(self, core):
            self._core = core

        def __getattr__(self, name):
            if name == "resolve":
                raise AttributeError(name)
            return getattr(self._core, name)

    s = resolve(NoResolve(eng), m, [a, b], yes_value=1000, ts=9)
    assert s.n_canceled == 1 and eng.user_orders(a) == []
    assert list(s.yes) == [10, 0] and list(s.no) == [0, 10]
    assert list(s.payout) == [10_000, 0]
    assert list(s.cash) == [94_000, 96_000]
    assert list(s.final_cash) == [104_000, 96_000]
    # The real command gives the same numbers (and also moves the cash).
    t = resolve(eng, m, [a, b], yes_value=1000, ts=10)
    assert list(t.payout) == [10_000, 0] and list(t.final_cash) == [104_000, 96_000]
    assert eng.balance(a) == (104_000, 0)


# ------------------------------------------------------------------ behaviour


@pytest.mark.parametrize(("payout", "tick"), GRIDS)
@pytest.mark.parametrize("true_prob", [0.2, 0.75])
def test_price_converges_to_the_true_probability(payout, tick, true_prob):
    res = simulate(
        n_steps=60_000, seed=8, payout=payout, tick=tick, true_prob=true_prob
    )
    truth = true_prob * payout
    tol = max(0.04 * payout, 1.5 * tick)
    # Mean mid over the second half of the run, and the last trade prices.
    assert abs(res.final_price(window=0.5) - truth) <= tol
    late = res.trades[res.trades["step"] >= res.config.n_steps // 2]
    assert abs(float(np.median(late["price"])) - truth) <= tol + tick
    # ... and far from where the makers started.
    assert abs(res.mark_price()[:200].mean() - truth) > abs(
        res.final_price(0.5) - truth
    )


@pytest.mark.parametrize(("payout", "tick"), GRIDS)
def test_informed_traders_only_take_positive_expected_value(payout, tick):
    res = run(payout=payout, tick=tick)
    a = res.agents
    informed = a["type"] == AgentType.INFORMED
    assert a["n_trades"][informed].sum() > 0
    # Every informed trade is at least `edge` better than the truth, so their
    # position valued at the true probability is a profit (whatever the outcome).
    assert (a["pnl_expected"][informed] >= 0).all()
    assert a["pnl_expected"][informed].sum() > 0
    taker = res.trades[res.trades["taker_type"] == AgentType.INFORMED]
    truth = res.config.true_prob * payout
    buys_yes = (taker["taker_outcome"] == Outcome.YES) == (
        taker["taker_side"] == Side.BUY
    )
    edge = res.config.informed_edge * payout
    assert (taker["price"][buys_yes] <= truth - edge + 1e-9).all()
    assert (taker["price"][~buys_yes] >= truth + edge - 1e-9).all()


def test_makers_respect_their_inventory_limit():
    cfg = SimConfig(n_steps=30_000, seed=2, maker_max_inventory=60, maker_size=20)
    res = simulate(cfg)
    h, types = res.holdings, res.agents["type"]
    inv = (h.yes - h.no)[:, types == AgentType.MAKER]
    # A maker quotes a side only while strictly under the limit, one quote of
    # `maker_size` at a time: one fill can overshoot by at most a quote.
    assert np.abs(inv).max() <= cfg.maker_max_inventory - 1 + cfg.maker_size
    assert np.abs(inv).max() >= cfg.maker_max_inventory  # the limit was reached


def test_all_fill_kinds_and_agent_types_trade():
    res = run()
    t = res.trades
    assert set(np.unique(t["kind"])) == {0, 1, 2}  # transfer, mint, merge
    assert set(np.unique(t["taker_type"])) >= {AgentType.NOISE, AgentType.INFORMED}
    assert set(np.unique(t["maker_type"])) >= {AgentType.NOISE, AgentType.MAKER}
    assert res.stats["n_trades"] == len(t) > 1000
    assert res.stats["volume"] == int(t["qty"].sum())
    assert int(res.agents["n_trades"].sum()) == 2 * len(t)
    assert int(res.agents["volume"].sum()) == 2 * int(t["qty"].sum())


# ---------------------------------------------------------------- the arrays


@pytest.mark.parametrize(("payout", "tick"), GRIDS)
def test_result_arrays_have_the_documented_shapes(payout, tick):
    res = run(payout=payout, tick=tick)
    cfg = res.config
    n, s, k = cfg.n_steps, cfg.n_steps // cfg.sample_every, cfg.depth_levels
    p = res.prices
    assert len(p) == n and (p["step"] == np.arange(n)).all()
    two = ~np.isnan(p["bid"]) & ~np.isnan(p["ask"])
    assert (p["bid"][two] < p["ask"][two]).all()  # the book is never crossed
    assert np.isnan(p["mid"][~two]).all() and not np.isnan(p["mid"][two]).any()
    assert (p["spread"][two] == p["ask"][two] - p["bid"][two]).all()
    # no price is a fake 0: an empty side is NaN with qty 0, a quoted one has qty
    assert (np.isnan(p["bid"]) == (p["bid_qty"] == 0)).all()
    assert (np.isnan(p["ask"]) == (p["ask_qty"] == 0)).all()
    for arr in (p["bid"], p["ask"], p["last"], res.trades["price"]):
        arr = arr[~np.isnan(arr)] if arr.dtype.kind == "f" else arr
        assert (arr % tick == 0).all() and (arr > 0).all() and (arr < payout).all()
    d = res.depth
    assert d.bid_price.shape == d.ask_qty.shape == (s, k) and len(d) == s
    assert (d.step == np.arange(1, s + 1) * cfg.sample_every - 1).all()
    # Best level first: bids descending, asks ascending, where present.
    bp = np.where(d.bid_qty > 0, d.bid_price, -1)
    assert (np.diff(bp, axis=1)[bp[:, 1:] > 0] < 0).all()
    ap = np.where(d.ask_qty > 0, d.ask_price, payout + 1)
    assert (np.diff(ap, axis=1)[ap[:, 1:] <= payout] > 0).all()
    # The best level of each sample is the top of the book after that step.
    top_bid = np.where(d.bid_qty[:, 0] > 0, d.bid_price[:, 0], np.nan)
    assert np.array_equal(top_bid, p["bid"][d.step], equal_nan=True)
    assert (d.ask_qty[:, 0] == p["ask_qty"][d.step]).all()
    assert res.holdings.cash.shape == (s, cfg.n_agents)
    a = res.agents
    assert len(a) == cfg.n_agents
    assert list(a["type"]) == (
        [0] * cfg.n_noise + [1] * cfg.n_makers + [2] * cfg.n_informed
    )
    assert list(res.agent_types[:1]) == [AGENT_TYPES[0]]
    assert (res.trades["taker"] != res.trades["maker"]).all()  # no self-trades
    assert (np.diff(res.trades["step"]) >= 0).all()


def test_summary_and_repr_are_readable():
    res = run()
    text = res.summary()
    assert "true probability 0.700" in text and "P&L by type" in text
    assert repr(res).startswith("SimResult(steps=30000")


def test_config_is_validated():
    with pytest.raises(ValueError, match="tick"):
        SimConfig(payout=1000, tick=30)
    with pytest.raises(ValueError, match="true_prob"):
        SimConfig(true_prob=1.5)
    with pytest.raises(TypeError, match="n_steps"):
        SimConfig(n_steps=1.5)
    with pytest.raises(ValueError, match="noise_cancel_prob"):
        SimConfig(noise_cancel_prob=0.7, noise_market_prob=0.5)
    with pytest.raises(ValueError, match="at least one agent"):
        SimConfig(n_noise=0, n_makers=0, n_informed=0)
    with pytest.raises(ValueError, match="taker_fee"):
        SimConfig(taker_fee=-1)
    with pytest.raises(TypeError):
        simulate(n_steps=10, no_such_field=1)
    assert (
        SimConfig().ticks(0.02) == 1 and SimConfig(payout=100, tick=1).ticks(0.02) == 2
    )


def test_a_market_with_only_noise_traders_still_adds_up():
    res = simulate(n_steps=5_000, n_makers=0, n_informed=0, seed=9)
    assert len(res.agents) == 20 and int(res.agents["pnl"].sum()) == 0


# ------------------------------------------------------------ optional imports


def test_to_pandas_tables():
    pd = pytest.importorskip("pandas")
    res = run()
    frames = res.to_pandas()
    assert set(frames) == {"trades", "prices", "depth", "holdings", "agents"}
    assert all(isinstance(f, pd.DataFrame) for f in frames.values())
    assert len(frames["trades"]) == len(res.trades)
    assert {"kind_name", "taker_type_name"} <= set(frames["trades"].columns)
    assert len(frames["prices"]) == res.config.n_steps
    h = frames["holdings"]
    assert len(h) == res.holdings.cash.size
    assert np.allclose(h.groupby("step")["mtm_pnl"].sum(), 0.0, atol=1e-6)
    d = frames["depth"]
    assert set(d["side"]) == {"bid", "ask"} and (d["qty"] > 0).all()
    assert int(d["qty"].sum()) == int(res.depth.bid_qty.sum() + res.depth.ask_qty.sum())
    agents = res.to_pandas("agents")
    assert set(agents["type_name"]) == set(AGENT_TYPES)
    with pytest.raises(ValueError, match="table must be one of"):
        res.to_pandas("nope")


def test_missing_pandas_or_matplotlib_says_how_to_install(monkeypatch):
    res = run()
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'probo-engine\[sim\]'"):
        res.to_pandas()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"needs matplotlib.*probo-engine\[sim\]"):
        res.plot()


def test_plot_saves_a_png(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = run(payout=100, tick=1)
    fig = res.plot(tmp_path / "dash.png")
    try:
        assert len(fig.axes) >= 4
        assert (tmp_path / "dash.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        plt.close(fig)


def _imports_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nprint(','.join(sorted(sys.modules)))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {m.split(".")[0] for m in out.split(",")}


def test_import_probo_engine_stays_light_and_sim_loads_only_numpy():
    assert "numpy" not in _imports_after("import sys, probo_engine")
    loaded = _imports_after("import sys, probo_engine.sim")
    assert "numpy" in loaded
    assert not loaded & {"pandas", "matplotlib"}


def test_missing_numpy_says_how_to_install():
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['numpy'] = None; import probo_engine.sim",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr
    assert "pip install 'probo-engine[sim]'" in proc.stderr


# --- issue 11, item 17 ----------------------------------------------------------


def test_numpy_scalars_are_accepted_and_bools_are_not_numbers():
    cfg = SimConfig(
        n_steps=np.int64(1000),
        true_prob=np.float32(0.6),
        seed=np.uint16(3),
        maker_half_spread=np.float64(0.02),
    )
    assert type(cfg.n_steps) is int and cfg.n_steps == 1000
    assert type(cfg.true_prob) is float and abs(cfg.true_prob - 0.6) < 1e-6
    assert type(cfg.seed) is int and type(cfg.maker_half_spread) is float
    assert SimConfig(outcome=np.bool_(True)).outcome is True
    with pytest.raises(TypeError, match="true_prob"):
        SimConfig(true_prob=True)
    with pytest.raises(TypeError, match="n_steps"):
        SimConfig(n_steps=np.bool_(True))


def test_empty_sides_are_missing_not_zero_prices():
    res = run(n_steps=2000, seed=5)
    p = res.prices
    assert p.dtype["bid"].kind == p.dtype["ask"].kind == p.dtype["last"].kind == "f"
    assert not (p["bid"] == 0).any() and not (p["ask"] == 0).any()
    assert np.isnan(p["last"][0]) or p["last"][0] > 0
    pd = pytest.importorskip("pandas")
    df = res.to_pandas("prices")
    assert str(df["bid"].dtype) == "Int64"
    assert int(df["bid"].isna().sum()) == int((p["bid_qty"] == 0).sum())
    assert not (df["bid"].dropna() == 0).any()
    assert isinstance(df, pd.DataFrame)


def test_events_frame_of_the_engines_own_events():
    pytest.importorskip("pandas")
    from probo_engine import Core, EventKind
    from probo_engine.batch import COMMAND_DTYPE, events_frame
    from probo_engine.batch import run as run_batch

    core = Core()
    m = core.create_market()
    a, b = core.create_user(), core.create_user()
    cmds = np.zeros(4, COMMAND_DTYPE)
    cmds["kind"] = [3, 3, 1, 1]  # deposit, deposit, place, place
    cmds["uid"] = [a, b, a, b]
    cmds["mid"] = m
    cmds["qty"] = [10_000, 10_000, 5, 5]
    cmds["outcome"] = [0, 0, 0, 1]
    cmds["price"] = [0, 0, 600, 400]
    out = run_batch(core, cmds)
    df = events_frame(out.events)
    assert len(df) == len(out.events)
    assert list(df["seq"]) == list(out.events["seq"])
    assert "FILL" in set(df["kind_name"]) and df["kind"].dtype == np.int64
    fill = df[df["kind_name"] == "FILL"].iloc[0]
    assert fill["qty"] == 5 and fill["kind"] == EventKind.FILL
    tuples = events_frame(core.last_events())
    assert list(tuples.columns) == list(df.columns)


def test_self_trade_none_lets_an_agent_fill_its_own_orders():
    # Noise traders cross the book where their own passive orders may sit:
    # by default (CANCEL_MAKER) those are canceled, with NONE they fill.
    default = simulate(n_steps=20_000, seed=1)
    none = simulate(n_steps=20_000, seed=1, self_trade=3)
    assert default.config.self_trade == 0 and none.config.self_trade == 3
    assert not (default.trades["taker"] == default.trades["maker"]).any()
    assert (none.trades["taker"] == none.trades["maker"]).sum() > 10
    none.engine.check_invariants()


@pytest.mark.parametrize("bad", [4, -1, True, 1.0])
def test_self_trade_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match="self_trade"):
        SimConfig(self_trade=bad)
