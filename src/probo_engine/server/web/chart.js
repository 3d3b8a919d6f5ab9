// A small price chart on a <canvas>: trade prices over time as a step line,
// on the market's full price range (0..payout), redrawn on every change.
// No library: a few dozen lines do what the page needs.

export function drawChart(canvas, points, payout, label) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 300;
  const h = canvas.clientHeight || 160;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const css = getComputedStyle(canvas);
  const fg = css.getPropertyValue("--chart-line").trim() || "#0a58ca";
  const grid = css.getPropertyValue("--chart-grid").trim() || "#ccc";
  const text = css.getPropertyValue("--chart-text").trim() || "#333";
  const left = 40, right = 8, top = 8, bottom = 18;
  const y = (p) => top + (h - top - bottom) * (1 - p / payout);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = text;
  g.strokeStyle = grid;
  g.lineWidth = 1;
  for (const frac of [0, 0.25, 0.5, 0.75, 1]) {
    const p = Math.round(payout * frac);
    g.beginPath();
    g.moveTo(left, y(p));
    g.lineTo(w - right, y(p));
    g.stroke();
    g.fillText(String(p), 4, y(p) + 4);
  }
  if (!points.length) {
    g.fillText("no trades yet", left + 8, h / 2);
    canvas.setAttribute("aria-label", `${label}: no trades yet`);
    return;
  }
  // One step per trade, from the left edge to the right; a dot marks the last.
  const n = points.length;
  const x = (i) => left + ((w - left - right) * i) / n;
  g.strokeStyle = fg;
  g.fillStyle = fg;
  g.lineWidth = 2;
  g.beginPath();
  g.moveTo(x(0), y(points[0]));
  for (let i = 1; i < n; i++) {
    g.lineTo(x(i), y(points[i - 1]));
    g.lineTo(x(i), y(points[i]));
  }
  const last = points[n - 1];
  g.lineTo(x(n), y(last));
  g.stroke();
  g.beginPath();
  g.arc(x(n), y(last), 3.5, 0, 2 * Math.PI);
  g.fill();
  canvas.setAttribute("aria-label", `${label}: ${n} trades, last at ${last}`);
}
