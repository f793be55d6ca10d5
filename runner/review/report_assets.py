"""The report page's inline style and script (hashed into its Content-Security-Policy).

The script filters cards by status, model, text and estimated cost, offline; it
reads only the page's own data attributes and writes only ``hidden`` flags and one counter.
"""

STYLE = """
:root { color-scheme: light dark; --bg: #f6f7f9; --card: #fff; --fg: #1d2330; --muted: #5d6677;
  --line: #dde1e8; --ok: #1a7f37; --bad: #c62828; --warn: #b26a00; --run: #2f6fdb;
  --idle: #6b7280; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #14171c; --card: #1d2128; --fg: #e6e9ef; --muted: #9aa3b2; --line: #2e3440; }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; padding: 24px; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header h1 { margin: 0 0 4px; font-size: 22px; }
.sources { margin: 0 0 12px; color: var(--muted); }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
.counts { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 0 0 16px; }
.total { margin-right: 8px; }
.chip { border: 1px solid var(--line); background: var(--card); color: var(--fg);
  border-radius: 999px; padding: 3px 12px; font: inherit; cursor: pointer; }
.chip b { margin-right: 2px; }
.filters { display: flex; flex-wrap: wrap; gap: 16px; align-items: center; padding: 10px 14px;
  background: var(--card); border: 1px solid var(--line); border-radius: 8px; margin-bottom: 20px; }
.filters select, .filters input { margin-left: 6px; font: inherit; }
.filters input[type=number] { width: 6em; }
.shown { margin-left: auto; color: var(--muted); }
h2 { font-size: 16px; margin: 8px 0 12px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px;
  display: flex; flex-direction: column; gap: 8px; min-width: 0; }
.card.failure { border-left: 4px solid var(--bad); }
.card h3 { margin: 0; font-size: 15px; display: flex; justify-content: space-between; gap: 8px; }
.key { overflow-wrap: anywhere; }
.badge { font-size: 12px; font-weight: 600; border-radius: 4px; padding: 1px 8px; color: #fff;
  white-space: nowrap; align-self: flex-start; }
.s-completed.badge { background: var(--ok); } .s-failed.badge { background: var(--bad); }
.s-timed_out.badge { background: var(--warn); } .s-uncertain.badge { background: var(--warn); }
.s-processing.badge { background: var(--run); } .s-pending.badge { background: var(--idle); }
.s-not_run.badge { background: var(--idle); }
.chip.s-completed b { color: var(--ok); } .chip.s-failed b { color: var(--bad); }
.chip.s-timed_out b, .chip.s-uncertain b { color: var(--warn); }
.chip.s-processing b { color: var(--run); }
figure { margin: 0; }
video { width: 100%; border-radius: 6px; background: #000; display: block; aspect-ratio: 16 / 9; }
figcaption, .missing { color: var(--muted); font-size: 12px; margin: 4px 0 0;
  overflow-wrap: anywhere; }
.prompt { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.error { margin: 0; padding: 8px 10px; border-radius: 6px; color: var(--bad);
  background: color-mix(in srgb, var(--bad) 10%, transparent); overflow-wrap: anywhere; }
.hint { color: var(--muted); font-size: 12px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0;
  font-size: 12px; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
.empty { color: var(--muted); }
"""

SCRIPT = """
(function () {
  "use strict";
  var cards = Array.prototype.slice.call(document.querySelectorAll(".card"));
  var sections = document.querySelectorAll("section.manifest");
  var status = document.getElementById("f-status");
  var model = document.getElementById("f-model");
  var text = document.getElementById("f-text");
  var cost = document.getElementById("f-cost");
  var least = document.getElementById("f-cost-min");
  var shown = document.getElementById("shown");
  function costs(card, c, low) {
    var max = parseFloat(card.dataset.cost);  // NaN: unpriced, or no estimate recorded
    if (c === "priced" && isNaN(max)) { return false; }
    if (c === "unpriced" && card.dataset.cost !== "unpriced") { return false; }
    return isNaN(low) || (!isNaN(max) && max >= low);
  }
  function matches(card, s, m, t, c, low) {
    return (!s || card.dataset.status === s) && (!m || card.dataset.model === m) &&
      (!t || card.dataset.text.toLowerCase().indexOf(t) >= 0) && costs(card, c, low);
  }
  function apply() {
    var s = status.value, m = model.value, t = text.value.trim().toLowerCase(), n = 0;
    var c = cost.value, low = least.value === "" ? NaN : parseFloat(least.value);
    cards.forEach(function (card) {
      var ok = matches(card, s, m, t, c, low);
      card.hidden = !ok;
      if (ok) { n += 1; }
    });
    Array.prototype.forEach.call(sections, function (section) {
      var cardsIn = section.querySelectorAll(".card");
      section.hidden = cardsIn.length > 0 && !section.querySelector(".card:not([hidden])");
    });
    shown.textContent = String(n);
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-filter-status]"), function (b) {
    b.addEventListener("click", function () {
      var wanted = b.getAttribute("data-filter-status");
      status.value = status.value === wanted ? "" : wanted;
      apply();
    });
  });
  status.addEventListener("change", apply);
  model.addEventListener("change", apply);
  text.addEventListener("input", apply);
  cost.addEventListener("change", apply);
  least.addEventListener("input", apply);
  apply();
})();
"""
