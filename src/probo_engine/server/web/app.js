// probo web UI: markets, a market page (ladders, chart, trades, order form,
// open orders), portfolio and admin, all live over the WebSocket feed.
// Plain ES modules, no build step.  Money and prices are integers in the
// market's minor unit (paise by default) exactly as the API takes them;
// `rupees()` only formats them.

import { api, ApiError } from "./api.js";
import { drawChart } from "./chart.js";
import { Feed, feedUrl } from "./feed.js";

const app = document.getElementById("view");
const nav = document.getElementById("nav");
const conn = document.getElementById("conn");
let me = null;
let feed = null;
let cleanups = [];

// ------------------------------------------------------------------ helpers

function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

export function rupees(paise) {
  const sign = paise < 0 ? "−" : "";
  const a = Math.abs(paise);
  return `${sign}₹${Math.trunc(a / 100).toLocaleString("en-IN")}.${String(a % 100).padStart(2, "0")}`;
}

function message(el, text, kind) {
  el.textContent = text;
  el.className = "msg " + (kind || "");
}

function errText(err) {
  return err instanceof ApiError ? `${err.message} (${err.code})` : String(err);
}

function onCleanup(fn) {
  cleanups.push(fn);
}

// A table with a header row; `body` is a list of rows or a <tbody> to fill later.
function table(headers, body, caption) {
  return h("table", {},
    caption ? h("caption", { text: caption }) : null,
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col", text: t })))),
    body instanceof HTMLTableSectionElement ? body : h("tbody", {}, body));
}

function intValue(input) {
  const v = input.value.trim();
  return /^[0-9]+$/.test(v) ? Number(v) : NaN;
}

// ------------------------------------------------------------------- router

async function route() {
  for (const fn of cleanups) fn();
  cleanups = [];
  const hash = location.hash || "#/";
  if (!me && hash !== "#/login") {
    try {
      me = await api.me();
    } catch {
      location.hash = "#/login";
      return;
    }
  }
  renderNav();
  app.replaceChildren();
  app.focus();
  if (hash === "#/login") return loginView();
  if (!feed) startFeed();
  const m = hash.match(/^#\/m\/(.+)$/);
  if (m) return marketView(decodeURIComponent(m[1]));
  if (hash === "#/portfolio") return portfolioView();
  if (hash === "#/admin" && me.admin) return adminView();
  return marketsView();
}

function renderNav() {
  nav.replaceChildren();
  if (!me) return;
  const link = (href, text) =>
    h("a", { href, "aria-current": location.hash === href ? "page" : null, text });
  nav.append(link("#/", "Markets"), link("#/portfolio", "Portfolio"));
  if (me.admin) nav.append(link("#/admin", "Admin"));
  nav.append(
    h("span", { class: "who", text: me.name }),
    h("button", {
      type: "button", class: "link", text: "Log out",
      onclick: async () => {
        try { await api.logout(); } catch { /* logged out either way */ }
        me = null;
        if (feed) { feed.close(); feed = null; }
        location.hash = "#/login";
      },
    }));
}

function startFeed() {
  feed = new Feed(feedUrl());
  feed.onState((s) => {
    conn.dataset.state = s;
    conn.textContent = s === "live" ? "● live" : s === "reconnecting" ? "reconnecting…" : "connecting…";
  });
}

// -------------------------------------------------------------------- login

function loginView() {
  const name = h("input", { id: "login-name", name: "name", autocomplete: "username", required: true });
  const pw = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const msg = h("p", { class: "msg", role: "alert" });
  const form = h("form", { class: "card narrow", "aria-labelledby": "login-h" },
    h("h1", { id: "login-h", text: "Log in" }),
    h("label", { for: "login-name", text: "User name" }), name,
    h("label", { for: "login-password", text: "Password" }), pw,
    h("button", { type: "submit", text: "Log in" }), msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api.login(name.value, pw.value);
      me = await api.me();
      location.hash = "#/";
    } catch (err) {
      message(msg, errText(err), "error");
    }
  });
  app.append(form);
  name.focus();
}

// ------------------------------------------------------------------ markets

async function marketsView() {
  const body = h("tbody");
  app.append(h("h1", { text: "Markets" }),
    h("table", { class: "markets" },
      h("caption", { text: "YES and NO prices; a YES+NO pair pays the payout" }),
      h("thead", {}, h("tr", {}, ["Market", "Status", "YES bid", "YES ask", "NO bid", "NO ask", "Last (YES)"]
        .map((t) => h("th", { scope: "col", text: t })))),
      body));
  let data;
  try {
    data = await api.markets();
  } catch (err) {
    app.append(h("p", { class: "msg error", role: "alert", text: errText(err) }));
    return;
  }
  if (!data.markets.length) {
    body.append(h("tr", {}, h("td", { colspan: 7, text: "No markets yet." })));
  }
  for (const m of data.markets) {
    const cells = {
      status: h("td", { text: m.status }),
      yb: h("td", { class: "num" }), ya: h("td", { class: "num" }),
      nb: h("td", { class: "num" }), na: h("td", { class: "num" }),
      last: h("td", { class: "num" }),
    };
    const show = (bid, ask, last, status) => {
      cells.yb.textContent = bid || "—";
      cells.ya.textContent = ask || "—";
      cells.nb.textContent = ask ? m.payout - ask : "—";
      cells.na.textContent = bid ? m.payout - bid : "—";
      cells.last.textContent = last || "—";
      if (status) cells.status.textContent = status;
    };
    show(m.best_bid, m.best_ask, m.last_price, m.status);
    body.append(h("tr", { "data-market": m.symbol },
      h("th", { scope: "row" }, h("a", { href: `#/m/${encodeURIComponent(m.symbol)}`, text: m.symbol })),
      cells.status, cells.yb, cells.ya, cells.nb, cells.na, cells.last));
    onCleanup(feed.subscribe({ channel: "ticker", market: m.symbol }, (msg) => {
      if (msg.type === "snapshot" || msg.type === "ticker") {
        show(msg.bid, msg.ask, msg.last, msg.status);
      }
    }));
  }
}

// ------------------------------------------------------------------- market

function ladder(title, outcome) {
  const body = h("tbody");
  const el = h("section", { class: "ladder", "aria-label": title },
    h("h2", { text: title }),
    h("table", {},
      h("thead", {}, h("tr", {}, ["Price", "Qty", "Orders"].map((t) => h("th", { scope: "col", text: t })))),
      body));
  const book = { bids: new Map(), asks: new Map() };
  let onPick = null;
  const render = () => {
    const asks = [...book.asks].sort((a, b) => b[0] - a[0]); // best (lowest) ask last
    const bids = [...book.bids].sort((a, b) => b[0] - a[0]);
    const max = Math.max(1, ...asks.map((l) => l[1][0]), ...bids.map((l) => l[1][0]));
    const row = (side, [price, [qty, n]]) => {
      const tr = h("tr", { class: side, tabindex: 0, "data-price": price, "aria-label": `${side === "ask" ? "ask" : "bid"} ${price}: ${qty} shares` },
        h("td", { class: "num", text: price }),
        h("td", { class: "num" }, h("span", { class: "bar", style: `width:${Math.round((100 * qty) / max)}%` }), String(qty)),
        h("td", { class: "num", text: n }));
      const pick = () => onPick && onPick(outcome, side, price);
      tr.addEventListener("click", pick);
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter") pick(); });
      return tr;
    };
    body.replaceChildren(
      ...asks.map((l) => row("ask", l)),
      h("tr", { class: "spread" }, h("td", { colspan: 3, text: asks.length || bids.length ? "" : "empty book" })),
      ...bids.map((l) => row("bid", l)));
  };
  const apply = (msg) => {
    if (msg.type === "snapshot") {
      book.bids = new Map(msg.bids.map(([p, q, n]) => [p, [q, n]]));
      book.asks = new Map(msg.asks.map(([p, q, n]) => [p, [q, n]]));
    } else if (msg.type === "book") {
      for (const [side, rows] of [[book.bids, msg.bids], [book.asks, msg.asks]]) {
        for (const [p, q, n] of rows) {
          if (q === 0) side.delete(p);
          else side.set(p, [q, n]);
        }
      }
    } else return;
    render();
  };
  render();
  return { el, apply, pick: (fn) => { onPick = fn; } };
}

async function marketView(sym) {
  let m;
  try {
    m = await api.market(sym);
  } catch (err) {
    app.append(h("h1", { text: sym }), h("p", { class: "msg error", role: "alert", text: errText(err) }));
    return;
  }
  const status = h("span", { class: "status", text: m.status });
  app.append(h("h1", {}, `${m.symbol} `, status),
    h("p", { class: "sub", text: `A YES+NO pair pays ${m.payout}; prices ${m.tick}..${m.payout - m.tick} step ${m.tick}.` }));

  const yes = ladder("YES book", "yes");
  const no = ladder("NO book", "no");
  const canvas = h("canvas", { class: "chart", role: "img", "aria-label": "YES price chart" });
  const tradesBody = h("tbody");
  const form = orderForm(m, () => refreshMine());
  yes.pick(form.pick);
  no.pick(form.pick);
  const mine = h("div", { id: "my-orders" });
  app.append(
    h("div", { class: "grid" },
      h("div", { class: "books" }, yes.el, no.el),
      h("div", { class: "side" }, form.el)),
    h("section", { "aria-label": "Price chart" }, h("h2", { text: "YES price" }), canvas),
    h("section", { "aria-label": "My open orders" }, h("h2", { text: "My open orders" }), mine),
    h("section", { "aria-label": "Recent trades" }, h("h2", { text: "Recent trades" }),
      table(["Seq", "YES price", "NO price", "Qty", "Kind"], tradesBody)));

  let prices = [];
  const trades = [];
  const addTrades = (rows) => {
    for (const t of rows) {
      trades.unshift(t);
      prices.push(t.price);
    }
    trades.length = Math.min(trades.length, 50);
    prices = prices.slice(-500);
    tradesBody.replaceChildren(...trades.map((t) => h("tr", { class: "trade" },
      h("td", { class: "num", text: t.seq }),
      h("td", { class: "num", text: t.price }),
      h("td", { class: "num", text: m.payout - t.price }),
      h("td", { class: "num", text: t.qty }),
      h("td", { text: t.kind }))));
    drawChart(canvas, prices, m.payout, "YES price chart");
  };

  async function refreshMine() {
    try {
      const r = await api.openOrders(m.symbol);
      mine.replaceChildren(ordersTable(r.orders, m, refreshMine));
    } catch (err) {
      mine.replaceChildren(h("p", { class: "msg error", role: "alert", text: errText(err) }));
    }
  }

  onCleanup(feed.subscribe({ channel: "book", market: m.symbol, view: "yes", depth: 10 }, yes.apply));
  onCleanup(feed.subscribe({ channel: "book", market: m.symbol, view: "no", depth: 10 }, no.apply));
  onCleanup(feed.subscribe({ channel: "trades", market: m.symbol }, (msg) => {
    if (msg.type === "snapshot") {
      trades.length = 0;
      prices = [];
      addTrades(msg.trades);
    } else if (msg.type === "trades") addTrades(msg.trades);
  }));
  onCleanup(feed.subscribe({ channel: "ticker", market: m.symbol }, (msg) => {
    if (msg.status) status.textContent = msg.status;
  }));
  onCleanup(feed.subscribe({ channel: "user" }, (msg) => {
    if (msg.type === "user" || msg.type === "snapshot") {
      refreshMine();
      form.refresh();
    }
  }));
  drawChart(canvas, prices, m.payout, "YES price chart");
  const onResize = () => drawChart(canvas, prices, m.payout, "YES price chart");
  window.addEventListener("resize", onResize);
  onCleanup(() => window.removeEventListener("resize", onResize));
  refreshMine();
}

function orderForm(m, placed) {
  const id = (s) => `of-${s}`;
  const radio = (name, value, label, checked) => h("label", { class: "choice" },
    h("input", { type: "radio", name, value, checked }), ` ${label}`);
  const side = h("fieldset", {}, h("legend", { text: "Action" }),
    radio("side", "buy", "Buy", true), radio("side", "sell", "Sell"));
  const outcome = h("fieldset", {}, h("legend", { text: "Outcome" }),
    radio("outcome", "yes", "YES", true), radio("outcome", "no", "NO"));
  const type = h("select", { id: id("type"), name: "type" },
    h("option", { value: "limit", text: "Limit" }), h("option", { value: "market", text: "Market" }));
  const tif = h("select", { id: id("tif"), name: "tif" },
    h("option", { value: "gtc", text: "GTC (good till canceled)" }),
    h("option", { value: "ioc", text: "IOC (fill and kill)" }),
    h("option", { value: "fok", text: "FOK (fill or kill)" }));
  const price = h("input", { id: id("price"), name: "price", type: "number", inputmode: "numeric",
    min: m.tick, max: m.payout - m.tick, step: m.tick, value: Math.round(m.payout / 2 / m.tick) * m.tick });
  const qty = h("input", { id: id("qty"), name: "qty", type: "number", inputmode: "numeric", min: 1, step: 1, value: 1 });
  const preview = h("p", { class: "preview", "aria-live": "polite" });
  const cash = h("p", { class: "sub" });
  const msg = h("p", { class: "msg", role: "status" });
  const submit = h("button", { type: "submit", text: "Place order" });
  // novalidate: the server checks every order (grid, funds, limits) and its
  // message is the one shown, never a browser bubble that hides it.
  const el = h("form", { class: "card order-form", "aria-labelledby": id("h"), novalidate: true },
    h("h2", { id: id("h"), text: "Place an order" }), side, outcome,
    h("label", { for: id("type"), text: "Type" }), type,
    h("label", { for: id("tif"), text: "Time in force" }), tif,
    h("label", { for: id("price"), text: `Price (${m.tick}..${m.payout - m.tick}, step ${m.tick})` }), price,
    h("label", { for: id("qty"), text: "Quantity (shares)" }), qty,
    preview, submit, msg, cash);
  const val = (name) => el.querySelector(`input[name=${name}]:checked`).value;
  const update = () => {
    const market = type.value === "market";
    price.disabled = market;
    for (const o of tif.options) o.disabled = market && o.value === "gtc";
    if (market && tif.value === "gtc") tif.value = "ioc";
    const q = intValue(qty);
    const p = intValue(price);
    const buy = val("side") === "buy";
    submit.textContent = `${buy ? "Buy" : "Sell"} ${val("outcome").toUpperCase()}`;
    if (!(q > 0)) { preview.textContent = "Enter a whole number of shares."; return; }
    if (market) {
      preview.textContent = buy
        ? `Market buy of ${q}: pays the best asks in the book; each share pays ${rupees(m.payout)} if ${val("outcome").toUpperCase()} wins (max payout ${rupees(q * m.payout)}).`
        : `Market sell of ${q} shares at the best bids.`;
      return;
    }
    if (!(p > 0)) { preview.textContent = "Enter a price on the grid."; return; }
    preview.textContent = buy
      ? `Cost ${rupees(p * q)} (${q} × ${p}); max payout ${rupees(q * m.payout)} if ${val("outcome").toUpperCase()} wins.`
      : `You receive ${rupees(p * q)} (${q} × ${p}) when it fills.`;
  };
  el.addEventListener("input", update);
  el.addEventListener("change", update);
  el.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const order = { market: m.symbol, side: val("side"), outcome: val("outcome"), qty: intValue(qty), type: type.value, tif: tif.value };
    if (type.value === "limit") order.price = intValue(price);
    for (const k of ["qty", "price"]) {
      if (k in order && !Number.isInteger(order[k])) {
        message(msg, `${k} must be a whole number`, "error");
        return;
      }
    }
    submit.disabled = true;
    try {
      const r = await api.place(order);
      message(msg, `Order ${r.order_id ?? ""} ${r.status}: filled ${r.filled ?? 0}, resting ${r.resting ?? 0}.`, "ok");
      placed();
      refresh();
    } catch (err) {
      message(msg, errText(err), "error");
    } finally {
      submit.disabled = false;
    }
  });
  async function refresh() {
    try {
      const b = await api.balance();
      cash.textContent = `Cash available ${rupees(b.available)}, locked ${rupees(b.locked)}.`;
    } catch { /* shown by the page */ }
  }
  const pick = (o, sideOfBook, p) => {
    // Clicking an ask offers to buy it; clicking a bid offers to sell into it.
    el.querySelector(`input[name=outcome][value=${o}]`).checked = true;
    el.querySelector(`input[name=side][value=${sideOfBook === "ask" ? "buy" : "sell"}]`).checked = true;
    type.value = "limit";
    price.value = p;
    update();
    qty.focus();
  };
  update();
  refresh();
  return { el, pick, refresh };
}

function ordersTable(orders, market, changed) {
  if (!orders.length) return h("p", { class: "sub", text: "No open orders." });
  const rows = orders.map((o) => {
    const msg = h("span", { class: "msg", role: "status" });
    const p = h("input", { type: "number", "aria-label": `new price of order ${o.order_id}`, value: o.price, min: 1, step: market ? market.tick : 1, class: "small" });
    const q = h("input", { type: "number", "aria-label": `new quantity of order ${o.order_id}`, value: o.remaining, min: 1, step: 1, class: "small" });
    return h("tr", { "data-oid": o.order_id },
      h("td", { class: "num", text: o.order_id }),
      h("td", { text: o.market }),
      h("td", { text: `${o.side} ${o.outcome.toUpperCase()}` }),
      h("td", { class: "num", text: o.price }),
      h("td", { class: "num", text: o.remaining }),
      h("td", {}, p, q,
        h("button", { type: "button", text: "Amend", onclick: async () => {
          try { await api.amend(o.order_id, intValue(p), intValue(q)); changed(); }
          catch (err) { message(msg, errText(err), "error"); }
        } }),
        h("button", { type: "button", text: "Cancel", onclick: async () => {
          try { await api.cancel(o.order_id); changed(); }
          catch (err) { message(msg, errText(err), "error"); }
        } }), msg));
  });
  return table(["Order", "Market", "Order", "Price", "Remaining", "Change"], rows);
}

// ---------------------------------------------------------------- portfolio

async function portfolioView() {
  const cash = h("div", { class: "card" });
  const pos = h("div");
  const orders = h("div");
  const amount = h("input", { id: "dep-amount", type: "number", min: 1, step: 1, inputmode: "numeric", value: 10000 });
  const dmsg = h("p", { class: "msg", role: "status" });
  const dep = h("form", { class: "card", "aria-labelledby": "dep-h" },
    h("h2", { id: "dep-h", text: "Deposit (test on-ramp)" }),
    h("label", { for: "dep-amount", text: "Amount (paise)" }), amount,
    h("button", { type: "submit", text: "Deposit" }), dmsg);
  dep.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api.deposit(intValue(amount));
      message(dmsg, `Deposited ${rupees(intValue(amount))}.`, "ok");
      load();
    } catch (err) {
      message(dmsg, errText(err), "error");
    }
  });
  app.append(h("h1", { text: "Portfolio" }), h("div", { class: "grid2" }, cash, dep),
    h("section", { "aria-label": "Positions" }, h("h2", { text: "Positions" }), pos),
    h("section", { "aria-label": "Open orders" }, h("h2", { text: "Open orders" }), orders));

  async function load() {
    try {
      const [b, p, o, mk] = await Promise.all([api.balance(), api.positions(), api.openOrders(), api.markets()]);
      let fills = [];
      try { fills = (await api.fills()).fills || []; } catch { /* no history store */ }
      cash.replaceChildren(h("h2", { text: "Cash" }),
        h("p", { id: "cash-available", text: `Available ${rupees(b.available)}` }),
        h("p", { id: "cash-locked", text: `Locked in orders ${rupees(b.locked)}` }));
      const markets = new Map(mk.markets.map((x) => [x.symbol, x]));
      const cost = costs(fills, markets);
      pos.replaceChildren(p.positions.length
        ? table(["Market", "YES (available / locked)", "NO (available / locked)", "Value at last price", "P&L"],
          p.positions.map((x) => {
            const m = markets.get(x.market);
            const last = m && (m.yes_value ?? m.last_price);
            const yesN = x.yes.available + x.yes.locked;
            const noN = x.no.available + x.no.locked;
            const value = last == null ? null : yesN * last + noN * (m.payout - last);
            const c = cost.get(x.market);
            return h("tr", { "data-market": x.market },
              h("th", { scope: "row", text: x.market }),
              h("td", { class: "num", text: `${x.yes.available} / ${x.yes.locked}` }),
              h("td", { class: "num", text: `${x.no.available} / ${x.no.locked}` }),
              h("td", { class: "num", text: value == null ? "—" : rupees(value) }),
              h("td", { class: "num", text: value == null || c == null ? "—" : rupees(value - c) }));
          }))
        : h("p", { class: "sub", text: "No positions." }));
      orders.replaceChildren(ordersTable(o.orders, null, load));
    } catch (err) {
      cash.replaceChildren(h("p", { class: "msg error", role: "alert", text: errText(err) }));
    }
  }
  onCleanup(feed.subscribe({ channel: "user" }, (msg) => {
    if (msg.type === "user") load();
  }));
  load();
}

// Net cash paid for the shares held, per market, from the user's fills:
// what a buy paid (price x qty, plus fees) minus what a sell received.
function costs(fills, markets) {
  const out = new Map();
  for (const f of fills) {
    const sym = f.market;
    const m = markets.get(sym);
    if (!m || f.price == null || f.qty == null) continue;
    const paid = (f.side === "buy" ? 1 : -1) * f.price * f.qty + (f.fee || 0);
    out.set(sym, (out.get(sym) || 0) + paid);
  }
  return out;
}

// -------------------------------------------------------------------- admin

async function adminView() {
  const sym = h("input", { id: "nm-symbol", required: true, pattern: "[A-Za-z0-9_.\\-]{1,64}" });
  const payout = h("input", { id: "nm-payout", type: "number", value: 1000, min: 2, step: 1 });
  const tick = h("input", { id: "nm-tick", type: "number", value: 50, min: 1, step: 1 });
  const msg = h("p", { class: "msg", role: "status" });
  const create = h("form", { class: "card", "aria-labelledby": "nm-h" },
    h("h2", { id: "nm-h", text: "Create a market" }),
    h("label", { for: "nm-symbol", text: "Symbol" }), sym,
    h("label", { for: "nm-payout", text: "Payout of a YES+NO pair" }), payout,
    h("label", { for: "nm-tick", text: "Tick" }), tick,
    h("button", { type: "submit", text: "Create" }), msg);
  const list = h("div");
  create.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api.createMarket({ symbol: sym.value, payout: intValue(payout), tick: intValue(tick) });
      message(msg, `Market ${sym.value} created.`, "ok");
      load();
    } catch (err) {
      message(msg, errText(err), "error");
    }
  });
  app.append(h("h1", { text: "Admin" }), create, h("section", { "aria-label": "Markets" }, h("h2", { text: "Markets" }), list));
  async function load() {
    const data = await api.markets();
    list.replaceChildren(table(["Market", "Status", "Actions"], data.markets.map((m) => {
      const out = h("span", { class: "msg", role: "status" });
      const op = (label, fn) => h("button", { type: "button", text: label, onclick: async () => {
        try { await fn(); load(); } catch (err) { message(out, errText(err), "error"); }
      } });
      return h("tr", { "data-market": m.symbol },
        h("th", { scope: "row", text: m.symbol }), h("td", { text: m.status }),
        h("td", {},
          op("Halt", () => api.marketOp(m.symbol, "halt")),
          op("Resume", () => api.marketOp(m.symbol, "resume")),
          op("Close", () => api.marketOp(m.symbol, "close")),
          op("Resolve YES", () => api.resolve(m.symbol, m.payout)),
          op("Resolve NO", () => api.resolve(m.symbol, 0)),
          op("Void", () => api.resolve(m.symbol, m.payout / 2)),
          out));
    })));
  }
  load();
}

window.addEventListener("hashchange", route);
route();
