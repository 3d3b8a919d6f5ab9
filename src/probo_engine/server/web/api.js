// The HTTP API, as the browser uses it: the session cookie authenticates,
// and every unsafe request carries the CSRF token from the readable cookie
// `probo_csrf` in the X-CSRF-Token header.  Errors come back as ApiError
// with the server's own code and message ({"error": {"code", "message"}}).

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [k, v] = part.trim().split("=");
    if (k === "probo_csrf") return decodeURIComponent(v || "");
  }
  return "";
}

export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", "the server cannot be reached");
  }
  let data = null;
  const text = await resp.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(resp.status, e.code || "http_" + resp.status,
      e.message || resp.statusText || "request failed");
  }
  return data;
}

export const api = {
  me: () => call("GET", "/v1/me"),
  login: (name, password) => call("POST", "/v1/session", { name, password }),
  logout: () => call("DELETE", "/v1/session"),
  markets: () => call("GET", "/v1/markets"),
  market: (sym) => call("GET", `/v1/markets/${encodeURIComponent(sym)}`),
  book: (sym, outcome, levels = 10) =>
    call("GET", `/v1/markets/${encodeURIComponent(sym)}/book?outcome=${outcome}&levels=${levels}`),
  trades: (sym, limit = 100) =>
    call("GET", `/v1/markets/${encodeURIComponent(sym)}/trades?limit=${limit}`),
  balance: () => call("GET", "/v1/balance"),
  positions: () => call("GET", "/v1/positions"),
  fills: (limit = 1000) => call("GET", `/v1/fills?limit=${limit}`),
  openOrders: (sym) =>
    call("GET", "/v1/orders" + (sym ? `?market=${encodeURIComponent(sym)}` : "")),
  place: (order) => call("POST", "/v1/orders", order),
  cancel: (oid) => call("DELETE", `/v1/orders/${oid}`),
  amend: (oid, price, qty) => call("PATCH", `/v1/orders/${oid}`, { price, qty }),
  deposit: (amount) => call("POST", "/v1/deposits", { amount }),
  createMarket: (m) => call("POST", "/v1/markets", m),
  marketOp: (sym, op) => call("POST", `/v1/markets/${encodeURIComponent(sym)}/${op}`),
  resolve: (sym, yes_value) =>
    call("POST", `/v1/markets/${encodeURIComponent(sym)}/resolve`, { yes_value }),
};
