"""The simulation's trading agents and the market they share.

Three strategies (see :mod:`probo_engine.sim`): :class:`NoiseTraders`,
:class:`MarketMakers` and :class:`InformedTraders`.  Each object acts for
every agent of its kind (per-agent state is kept in lists indexed by the agent
number) through one :class:`SharedMarket`, which sends the orders, keeps the
fills and the last trade price, and counts orders, refusals and cancels.

Every ``act`` takes the same arguments -- the agent, the step, and that step's
four random draws (three uniforms in [0, 1) and one standard normal) -- so the
loop in :mod:`probo_engine.sim.runner` dispatches without knowing the kind.
The draws are made whatever the agent does with them, so the random streams
stay aligned and the results depend on the config alone.

Prices are handled as grid indices ``k`` (the YES price is ``k * tick``,
``1 <= k <= n_prices``); a NO order at index ``k`` has price
``payout - k * tick``.  The arithmetic is kept exactly as it was when these
strategies were written inline (multiplications by ``1 / tick``, the same
order of operations), because results must be reproducible bit for bit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from probo_engine._book import Core
from probo_engine.sim.config import SimConfig
from probo_engine.types import (
    Event,
    EventKind,
    Outcome,
    RejectReason,
    Side,
    TimeInForce,
)

__all__ = [
    "AgentAction",
    "InformedTraders",
    "MarketMakers",
    "NoiseTraders",
    "SharedMarket",
]

# Plain ints, so that the hot loop compares and passes ints.
_BUY, _SELL = int(Side.BUY), int(Side.SELL)
_YES, _NO = int(Outcome.YES), int(Outcome.NO)
_GTC, _IOC = int(TimeInForce.GTC), int(TimeInForce.IOC)
_FILL = int(EventKind.FILL)
#: What ``cancel`` returns for an order that is no longer open (``-code``).
_UNKNOWN_ORDER = -int(RejectReason.UNKNOWN_ORDER)
_KIND_AT = Event._fields.index("kind")
_PRICE_AT = Event._fields.index("price")
#: ``n_last_events`` of a placement that filled nothing: accepted, then
#: rested on a level or (IOC) canceled.
_EVENTS_WITHOUT_FILL = 2

#: ``act(agent, step, u1, u2, u3, z)``: one activation of one agent.
AgentAction = Callable[[int, int, float, float, float, float], None]


class SharedMarket:
    """The one market every agent trades in, and what their orders did.

    ``last`` is the last trade price (YES terms; 0 before the first trade);
    ``fills`` collects the engine's fill event tuples until the runner takes
    them.  ``n_orders``, ``n_rejects`` and ``n_cancels`` are per agent.
    """

    def __init__(
        self,
        engine: Any,
        market: int,
        users: list[int],
        payout: int,
        tick: int,
        stp: int = 0,
    ) -> None:
        self.engine = engine
        self.stp = stp  #: every order's self-trade mode (SelfTrade value)
        self.market = market
        self.users = users
        self.payout = payout
        self.tick = tick
        self.last = 0
        self.fills: list[tuple[int, ...]] = []
        self.n_orders = [0] * len(users)
        self.n_rejects = [0] * len(users)
        self.n_cancels = [0] * len(users)
        self.reject_codes: dict[int, int] = {}
        self.n_cancel_missed = 0  #: cancels of orders already gone
        # plain ints in the hot loop (the stubs type the enum arguments)
        self._place: Callable[..., int] = engine.place
        self._cancel = engine.cancel
        self._last_events = engine.last_events
        # The core's raw tuples (Engine's named records cost more), bound so
        # that a call costs no Python frame:
        #: ``best()``: ``(bid price, bid qty, ask price, ask qty)`` of the
        #: market, 0s for an empty side
        self.best: Callable[[], tuple[int, int, int, int]] = functools.partial(
            Core.top.__get__(engine), market
        )
        #: ``position(uid, market)``: ``(YES available, YES locked, NO
        #: available, NO locked)``
        self.position: Callable[[int, int], tuple[int, int, int, int]] = (
            Core.position.__get__(engine)
        )

    def send(
        self,
        agent: int,
        side: int,
        outcome: int,
        price: int,
        qty: int,
        tif: int,
        step: int,
    ) -> int:
        """Place one order; keep its fills; return the order id or ``-code``."""
        self.n_orders[agent] += 1
        result = self._place(
            self.users[agent],
            self.market,
            side,
            outcome,
            price,
            qty,
            tif,
            self.stp,
            step,
        )
        if result < 0:
            self.n_rejects[agent] += 1
            codes = self.reject_codes
            codes[-result] = codes.get(-result, 0) + 1
        elif self.engine.n_last_events > _EVENTS_WITHOUT_FILL:
            for event in self._last_events():
                if event[_KIND_AT] == _FILL:
                    self.fills.append(event)
                    self.last = event[_PRICE_AT]
        return result

    def cancel(self, agent: int, oid: int, step: int) -> None:
        """Cancel one of the agent's orders (counting it if it was gone)."""
        self.n_cancels[agent] += 1
        if self._cancel(self.users[agent], oid, step) == _UNKNOWN_ORDER:
            self.n_cancel_missed += 1

    def buy_yes_or_sell_no(
        self, agent: int, k: int, qty: int, tif: int, step: int, no_held: int
    ) -> int:
        """Go long YES at index ``k``: sell NO held, else buy YES."""
        if no_held >= qty:
            no_price = self.payout - k * self.tick
            return self.send(agent, _SELL, _NO, no_price, qty, tif, step)
        return self.send(agent, _BUY, _YES, k * self.tick, qty, tif, step)

    def sell_yes_or_buy_no(
        self, agent: int, k: int, qty: int, tif: int, step: int, yes_held: int
    ) -> int:
        """Go short YES at index ``k``: sell YES held, else buy NO."""
        if yes_held >= qty:
            return self.send(agent, _SELL, _YES, k * self.tick, qty, tif, step)
        no_price = self.payout - k * self.tick
        return self.send(agent, _BUY, _NO, no_price, qty, tif, step)


class NoiseTraders:
    """Random orders around the current mid; some passive, some marketable.

    An activation cancels the agent's oldest resting order (with probability
    ``noise_cancel_prob``), or sends an order on a random side: marketable IOC
    through the best price (``noise_market_prob``), else a passive GTC order
    ``|N(0, noise_price_sd)|`` behind the reference price and never through
    the best.  Beyond ``noise_max_open`` resting orders the oldest is canceled.
    """

    def __init__(self, cfg: SimConfig, market: SharedMarket, n_agents: int) -> None:
        self.market = market
        self.tick = cfg.tick
        self.n_prices = cfg.n_prices
        self.per_tick = 1.0 / cfg.tick
        self.center = (cfg.n_prices + 1) / 2.0  # the grid's middle, in ticks
        self.max_qty = cfg.noise_max_qty
        self.cancel_below = cfg.noise_cancel_prob
        self.marketable_below = cfg.noise_cancel_prob + cfg.noise_market_prob
        self.offset_sd_ticks = cfg.noise_price_sd * (cfg.payout / cfg.tick)
        self.max_open = cfg.noise_max_open
        self.open_orders: list[list[int]] = [[] for _ in range(n_agents)]

    def act(
        self,
        agent: int,
        step: int,
        side_draw: float,
        action_draw: float,
        size_draw: float,
        offset_draw: float,
    ) -> None:
        market = self.market
        if action_draw < self.cancel_below:
            resting = self.open_orders[agent]
            if resting:
                market.cancel(agent, resting.pop(0), step)
            return
        bid, _bid_qty, ask, _ask_qty = market.best()
        offset = abs(offset_draw) * self.offset_sd_ticks
        bullish = side_draw < 0.5
        marketable = action_draw < self.marketable_below
        if marketable:
            tif = _IOC
            k = self._through_the_best(bid, ask, offset, bullish)
        else:
            tif = _GTC
            k = self._behind_the_best(bid, ask, offset, bullish)
        k = min(max(k, 1), self.n_prices)
        qty = 1 + int(size_draw * self.max_qty)
        yes_held, _yl, no_held, _nl = market.position(
            market.users[agent], market.market
        )
        if bullish:
            oid = market.buy_yes_or_sell_no(agent, k, qty, tif, step, no_held)
        else:
            oid = market.sell_yes_or_buy_no(agent, k, qty, tif, step, yes_held)
        if oid > 0 and tif == _GTC:
            resting = self.open_orders[agent]
            resting.append(oid)
            if len(resting) > self.max_open:
                market.cancel(agent, resting.pop(0), step)

    def _reference(self, bid: int, ask: int) -> float:
        """Where the market is, in ticks: the mid, else the last trade, else
        the one best price, else the middle of the grid."""
        per_tick = self.per_tick
        if bid and ask:
            return (bid + ask) * 0.5 * per_tick
        last = self.market.last
        if last:
            return last * per_tick
        if bid:
            return bid * per_tick
        if ask:
            return ask * per_tick
        return self.center

    def _through_the_best(
        self, bid: int, ask: int, offset: float, bullish: bool
    ) -> int:
        per_tick = self.per_tick
        if bullish:
            return math.floor(
                (ask * per_tick if ask else self._reference(bid, ask)) + offset
            )
        return math.ceil(
            (bid * per_tick if bid else self._reference(bid, ask)) - offset
        )

    def _behind_the_best(self, bid: int, ask: int, offset: float, bullish: bool) -> int:
        ref = self._reference(bid, ask)
        tick = self.tick
        if bullish:
            k = math.floor(ref - offset)
            if ask and k * tick >= ask:
                k = ask // tick - 1
            return k
        k = math.ceil(ref + offset)
        if bid and k * tick <= bid:
            k = bid // tick + 1
        return k


class MarketMakers:
    """Two-sided quotes around a belief that learns from the last trade.

    Each activation moves the agent's belief ``maker_learning`` of the way
    toward the last trade price, withdraws its two quotes, and quotes again at
    ``belief -/+ maker_half_spread``, shifted by ``maker_skew`` per share of
    net YES inventory; a side that would take the inventory past
    ``maker_max_inventory`` is not quoted.
    """

    def __init__(
        self, cfg: SimConfig, market: SharedMarket, beliefs: list[float]
    ) -> None:
        self.market = market
        self.n_prices = cfg.n_prices
        self.belief = beliefs  #: per agent (0.0 for the other kinds)
        self.learning = cfg.maker_learning
        self.per_payout = 1.0 / cfg.payout
        self.ticks_per_unit = cfg.payout / cfg.tick  # probability -> ticks
        self.skew = cfg.maker_skew
        self.half_spread_ticks = cfg.maker_half_spread * self.ticks_per_unit
        self.size = cfg.maker_size
        self.max_inventory = cfg.maker_max_inventory
        self.bid_oid = [0] * len(beliefs)  #: resting quotes (0: none)
        self.ask_oid = [0] * len(beliefs)

    def act(
        self,
        agent: int,
        step: int,
        _side_draw: float,
        _action_draw: float,
        _size_draw: float,
        _offset_draw: float,
    ) -> None:
        market = self.market
        belief = self.belief[agent]
        if market.last:
            belief += self.learning * (market.last * self.per_payout - belief)
            self.belief[agent] = belief
        if self.bid_oid[agent]:
            market.cancel(agent, self.bid_oid[agent], step)
            self.bid_oid[agent] = 0
        if self.ask_oid[agent]:
            market.cancel(agent, self.ask_oid[agent], step)
            self.ask_oid[agent] = 0
        yes_held, yes_locked, no_held, no_locked = market.position(
            market.users[agent], market.market
        )
        inventory = yes_held + yes_locked - no_held - no_locked
        center = (belief - self.skew * inventory) * self.ticks_per_unit
        k_bid = math.floor(center - self.half_spread_ticks)
        k_ask = math.ceil(center + self.half_spread_ticks)
        if k_ask <= k_bid:
            k_ask = k_bid + 1
        size = self.size
        if inventory < self.max_inventory and 1 <= k_bid <= self.n_prices:
            oid = market.buy_yes_or_sell_no(agent, k_bid, size, _GTC, step, no_held)
            if oid > 0:
                self.bid_oid[agent] = oid
        if inventory > -self.max_inventory and 1 <= k_ask <= self.n_prices:
            oid = market.sell_yes_or_buy_no(agent, k_ask, size, _GTC, step, yes_held)
            if oid > 0:
                self.ask_oid[agent] = oid


class InformedTraders:
    """Takers who know (roughly) the true probability.

    Each has a fair value (``true_prob`` plus ``N(0, informed_noise)``); an
    activation takes the best ask if it is at least ``informed_edge`` below
    the fair value, else the best bid if it is that far above, with an IOC
    order of random size, unless that would take the agent's net position
    past ``informed_max_position``.
    """

    def __init__(self, cfg: SimConfig, market: SharedMarket, fair: list[float]) -> None:
        self.market = market
        self.tick = cfg.tick
        self.n_prices = cfg.n_prices
        self.max_qty = cfg.informed_max_qty
        self.max_position = cfg.informed_max_position
        edge = cfg.informed_edge * cfg.payout
        per_tick = 1.0 / cfg.tick
        n = cfg.n_prices
        #: highest index each agent buys YES at, lowest it sells YES at
        self.buy_up_to = [
            min(n, math.floor((f - edge) * per_tick + 1e-9)) for f in fair
        ]
        self.sell_down_to = [
            max(1, math.ceil((f + edge) * per_tick - 1e-9)) for f in fair
        ]

    def act(
        self,
        agent: int,
        step: int,
        _side_draw: float,
        _action_draw: float,
        size_draw: float,
        _offset_draw: float,
    ) -> None:
        market = self.market
        bid, _bid_qty, ask, _ask_qty = market.best()
        k_buy = self.buy_up_to[agent]
        k_sell = self.sell_down_to[agent]
        tick = self.tick
        ask_is_cheap = bool(ask and k_buy >= 1 and ask <= k_buy * tick)
        bid_is_rich = bool(bid and k_sell <= self.n_prices and bid >= k_sell * tick)
        if not (ask_is_cheap or bid_is_rich):
            return
        yes_held, yes_locked, no_held, no_locked = market.position(
            market.users[agent], market.market
        )
        position = yes_held + yes_locked - no_held - no_locked
        qty = 1 + int(size_draw * self.max_qty)
        if ask_is_cheap:
            if position < self.max_position:
                market.buy_yes_or_sell_no(agent, k_buy, qty, _IOC, step, no_held)
        elif position > -self.max_position:
            market.sell_yes_or_buy_no(agent, k_sell, qty, _IOC, step, yes_held)
