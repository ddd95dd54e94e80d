// sdnet flight simulator: the page's script. No library, nothing loaded from elsewhere:
// the charts are SVG drawn here, every number comes from this page's own server.
"use strict";

const COLORS = ["#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d"];
const CURRENT = "#1f5fa8";
const state = {
  setup: null, values: {}, run: null, saved: [], fan: null, preset: "",
  busy: false, pending: null, fanBusy: false, fanPending: false, game: null,
};
window.sdnetTimings = [];  // milliseconds from a slider move to the redrawn charts

// ------------------------------------------------------------------ helpers
const $ = (id) => document.getElementById(id);
function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;", "'": "&#39;"}[c]));
}
function fmt(value, units, compact = false) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  const money = typeof units === "string" && units.startsWith("$");
  const abs = Math.abs(value);
  let text;
  if (money && abs >= 1e6) text = (value / 1e6).toFixed(abs >= 1e7 ? 1 : 2) + " M";
  else if (compact && abs >= 1e4) text = Math.round(value / 1000).toLocaleString("en-US") + "k";
  else if (abs >= 1000 || Number.isInteger(value)) text = Math.round(value).toLocaleString("en-US");
  else if (abs >= 100) text = value.toFixed(0);
  else if (abs >= 10) text = value.toFixed(1);
  else if (abs >= 1 || abs === 0) text = value.toFixed(2).replace(/\.?0+$/, "") || "0";
  else if (abs < 0.001) text = "0.000";
  else text = value.toPrecision(2);
  return money ? "$" + text : text;
}
function unitText(units) { return units && units !== "dmnl" ? units : ""; }
async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) {
    const error = new Error(data.error ? data.error.message : response.statusText);
    error.field = data.error ? data.error.field : null;
    throw error;
  }
  return data;
}
function showError(error) {
  const box = $("error");
  if (!error) { box.hidden = true; box.textContent = ""; return; }
  box.hidden = false;
  box.textContent = String(error.message || error);
}

// ------------------------------------------------------------------ charts (SVG)
function niceCeil(value) {
  if (!(value > 0)) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const f of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (value <= f * power * 1.0000001) return f * power;
  return 10 * power;
}
function ticks(top) {
  const raw = top / 4, power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * power).find((s) => s >= raw * 0.999) || raw;
  const out = [];
  for (let v = 0; v <= top * 1.0001; v += step) out.push(v);
  return out;
}
function pathOf(times, values, x, y) {
  let d = "", pen = false;
  for (let i = 0; i < times.length; i++) {
    const v = values[i];
    if (v === null || v === undefined || !Number.isFinite(v)) { pen = false; continue; }
    d += (pen ? "L" : "M") + x(times[i]).toFixed(1) + " " + y(v).toFixed(1);
    pen = true;
  }
  return d;
}
// spec: {title, units, xmax, lines: [{times, values, color, width, dash, cls}],
//        bands: [{times, lo, hi, color, opacity}], spans: [[x0, x1, opacity]], marks: [x]}
function chartSvg(spec) {
  const W = 460, H = 225, L = 64, R = 12, T = 30, B = 32;
  let top = 0;
  for (const line of spec.lines) for (const v of line.values) if (Number.isFinite(v) && v > top) top = v;
  for (const band of spec.bands || []) for (const v of band.hi) if (Number.isFinite(v) && v > top) top = v;
  top = niceCeil(top * 1.05);
  const x = (t) => L + (W - L - R) * t / spec.xmax;
  const y = (v) => T + (H - T - B) * (1 - Math.max(0, Math.min(v, top * 1.02)) / top);
  const parts = [`<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(spec.title)}">`];
  parts.push(`<text x="${L}" y="19" font-size="16" font-weight="600">${esc(spec.title)}` +
             `<tspan fill="#666" font-weight="400" font-size="13"> ${esc(unitText(spec.units))}</tspan></text>`);
  for (const [a, b, opacity] of spec.spans || []) {
    if (b > a) parts.push(`<rect x="${x(a)}" y="${T}" width="${x(b) - x(a)}" height="${H - T - B}" fill="#f0a040" opacity="${opacity}"/>`);
  }
  for (const v of ticks(top)) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${L - 6}" y="${y(v) + 4}" font-size="13" text-anchor="end" fill="#444">${esc(fmt(v, spec.units, true))}</text>`);
  }
  const step = spec.xmax > 40 ? 10 : 5;
  for (let t = 0; t <= spec.xmax + 1e-9; t += step) {
    parts.push(`<text x="${x(t)}" y="${H - B + 16}" font-size="13" text-anchor="middle" fill="#444">${t}</text>`);
  }
  parts.push(`<text x="${W - R}" y="${H - 4}" font-size="12" text-anchor="end" fill="#666">${esc(timeUnit(false))}</text>`);
  for (const m of spec.marks || []) {
    parts.push(`<line x1="${x(m)}" x2="${x(m)}" y1="${T}" y2="${H - B}" stroke="#999" stroke-dasharray="2 3"/>`);
  }
  for (const band of spec.bands || []) {
    let d = "";
    band.times.forEach((t, i) => { d += (i ? "L" : "M") + x(t).toFixed(1) + " " + y(band.hi[i] ?? 0).toFixed(1); });
    for (let i = band.times.length - 1; i >= 0; i--) d += "L" + x(band.times[i]).toFixed(1) + " " + y(band.lo[i] ?? 0).toFixed(1);
    parts.push(`<path class="band" d="${d}Z" fill="${band.color}" opacity="${band.opacity}"/>`);
  }
  parts.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/>`);
  for (const line of spec.lines) {
    parts.push(`<path class="${line.cls || ""}" d="${pathOf(line.times, line.values, x, y)}" fill="none" ` +
               `stroke="${line.color}" stroke-width="${line.width || 2}" ${line.dash ? `stroke-dasharray="${line.dash}"` : ""}/>`);
  }
  parts.push("</svg>");
  return parts.join("");
}
function drawCharts(container, specs) {
  if (container.children.length !== specs.length) {
    container.innerHTML = specs.map((s) => `<div class="chart" data-variable="${esc(s.variable)}"></div>`).join("");
  }
  specs.forEach((spec, i) => { container.children[i].innerHTML = chartSvg(spec); });
}

// ------------------------------------------------------------------ words
// What the page calls things comes from the model card ([words], [model] time_unit), so a
// model without a card reads "the system", "preset", its own time unit.
function word(key) {
  const words = (state.setup && state.setup.words) || {};
  return words[key] || key;
}
function bare(text) { return String(text).replace(/^(the|a|an) /i, ""); }
function capital(text) { return text ? text[0].toUpperCase() + text.slice(1) : text; }
function timeUnit(plural) {
  const unit = String((state.setup && state.setup.time_unit) || "time").toLowerCase();
  return plural && unit !== "time" && !unit.endsWith("s") ? unit + "s" : unit;
}
function presetWord() { return bare(word("preset")); }

// ------------------------------------------------------------------ explore mode
function sliderHtml(slider, value, prefix) {
  return `<div class="slider"><label for="${prefix}${esc(slider.name)}" title="${esc(slider.description)}">` +
    `<span>${esc(slider.label)}</span><output id="${prefix}out-${esc(slider.name)}">${esc(fmt(value, slider.units))} ${esc(unitText(slider.units))}</output></label>` +
    `<input type="range" id="${prefix}${esc(slider.name)}" data-name="${esc(slider.name)}" min="${slider.lower}" max="${slider.upper}" ` +
    `step="${slider.step}" value="${value}" aria-label="${esc(slider.label)}"></div>`;
}
function buildExplore() {
  const setup = state.setup;
  const groups = {lever: "Levers", region: presetWord() === "preset" ? "Conditions" : capital(presetWord())};
  let html = "";
  for (const kind of Object.keys(groups)) {
    const group = setup.sliders.filter((s) => s.kind === kind);
    if (!group.length) continue;
    html += `<h3>${groups[kind]}</h3>` + group.map((s) => sliderHtml(s, state.values[s.name], "s-")).join("");
  }
  $("sliders").innerHTML = html;
  const presets = Object.keys(setup.presets);
  $("preset").innerHTML = `<option value="">(as set)</option>` +
    presets.map((p) => `<option value="${esc(p)}">${esc(p.replace(/_/g, " "))}</option>`).join("");
  $("preset").closest("label").hidden = !presets.length;
  $("preset-label").textContent = presetWord() === "preset" ? "Preset" : `${capital(presetWord())} preset`;
  state.preset = presets.find((p) => Object.entries(setup.presets[p]).every(([k, v]) => state.values[k] === v)) || "";
  $("preset").value = state.preset;
  $("sliders").addEventListener("input", (event) => {
    const name = event.target.dataset.name;
    if (!name) return;
    const slider = setup.sliders.find((s) => s.name === name);
    state.values[name] = Number(event.target.value);
    $("s-out-" + name).textContent = `${fmt(state.values[name], slider.units)} ${unitText(slider.units)}`;
    if (slider.kind === "region") { state.preset = ""; $("preset").value = ""; }
    requestRun(performance.now());
  });
  $("preset").addEventListener("change", () => {
    const name = $("preset").value;
    if (!name) return;
    for (const [key, value] of Object.entries(setup.presets[name])) {
      state.values[key] = value;
      const input = $("s-" + key);
      if (input) { input.value = value; input.dispatchEvent(new Event("input", {bubbles: true})); }
    }
    state.preset = name;
    $("preset").value = name;
  });
  $("save").addEventListener("click", saveScenario);
  $("csv").addEventListener("click", downloadCsv);
  $("fan").addEventListener("change", () => { state.fan = null; if ($("fan").checked) requestFan(); else { $("fan-note").textContent = ""; drawExplore(); } });
}
async function requestRun(began) {
  if (state.busy) { state.pending = began; return; }
  state.busy = true;
  try {
    state.run = await api("api/run", {values: state.values});
    showError(null);
    drawExplore();
    const ms = await new Promise((done) => requestAnimationFrame(() => done(performance.now() - began)));
    window.sdnetTimings.push(ms);
    $("status").textContent = `model run ${state.run.ms} ms · redrawn in ${Math.round(ms)} ms`;
  } catch (error) {
    showError(error);
  } finally {
    state.busy = false;
  }
  if (state.pending !== null) { const next = state.pending; state.pending = null; requestRun(next); }
  if ($("fan").checked) requestFan();
}
async function requestFan() {
  if (state.fanBusy) { state.fanPending = true; return; }
  state.fanBusy = true;
  try {
    state.fan = await api("api/fan", {values: state.values});
    $("fan-note").textContent = `shaded: 5–95% and 25–75% of ${state.fan.n_worlds} runs over ${state.fan.source}` +
      (state.fan.n_failed ? ` (${state.fan.n_failed} failed)` : "");
    drawExplore();
  } catch (error) {
    showError(error);
  } finally {
    state.fanBusy = false;
  }
  if (state.fanPending) { state.fanPending = false; requestFan(); }
}
function pushSpans(push) {
  return push ? [[push[0], push[1], 0.22], [push[1], push[2], 0.1]] : [];
}
function drawExplore() {
  const run = state.run;
  if (!run) return;
  const specs = state.setup.outcomes.map((outcome) => {
    const lines = state.saved.map((s) => ({times: s.times, values: s.series[outcome.variable],
      color: s.color, width: 2, dash: "6 4", cls: "saved"}));
    lines.push({times: run.times, values: run.series[outcome.variable], color: CURRENT, width: 3, cls: "current"});
    const bands = [];
    if (state.fan && $("fan").checked) {
      const q = state.fan.bands[outcome.variable];
      bands.push({times: state.fan.times, lo: q[0], hi: q[4], color: CURRENT, opacity: 0.13});
      bands.push({times: state.fan.times, lo: q[1], hi: q[3], color: CURRENT, opacity: 0.22});
    }
    return {variable: outcome.variable, title: outcome.label, units: outcome.units,
            xmax: state.setup.final_time, lines, bands, spans: pushSpans(run.push)};
  });
  drawCharts($("charts"), specs);
  const entries = [["current run", CURRENT], ...state.saved.map((s) => [s.name, s.color])];
  if (run.push) entries.push([`${bare(word("schedule"))} (light: phase-out)`, "#f0a040"]);
  if (state.fan && $("fan").checked) entries.push(["uncertainty (shaded)", "#c4d4ea"]);
  $("legend").replaceChildren(...entries.map(([text, color]) => {
    const span = document.createElement("span");  // a style attribute would break the CSP
    span.textContent = text;
    span.style.setProperty("--swatch", color);
    return span;
  }));
  drawSaved();
}
function saveScenario() {
  if (!state.run) return;
  const n = state.saved.length + 1;
  state.saved.push({name: `scenario ${n}`, values: {...state.values}, times: state.run.times,
    series: state.run.series, color: COLORS[(n - 1) % COLORS.length]});
  drawExplore();
}
function drawSaved() {
  const table = $("saved");
  if (!state.saved.length) { table.innerHTML = ""; return; }
  const rows = [{name: "current run", values: state.values, series: state.run.series}, ...state.saved];
  const sliders = state.setup.sliders.filter((s) => rows.some((r) => r.values[s.name] !== rows[0].values[s.name]) ||
    s.kind === "lever" && s.name === state.setup.sliders[0].name);
  const outcomes = state.setup.outcomes;
  let html = "<tr><th>scenario</th>" + sliders.map((s) => `<th>${esc(s.label)}</th>`).join("") +
    outcomes.map((o) => `<th>${esc(o.label)}</th>`).join("") + "<th></th></tr>";
  rows.forEach((row, i) => {
    html += `<tr><td>${esc(row.name)}</td>` + sliders.map((s) => `<td>${esc(fmt(row.values[s.name], s.units))}</td>`).join("") +
      outcomes.map((o) => { const v = row.series[o.variable]; return `<td>${esc(fmt(v[v.length - 1], o.units))}</td>`; }).join("") +
      (i ? `<td><button type="button" data-remove="${i - 1}">remove</button></td>` : "<td></td>") + "</tr>";
  });
  table.innerHTML = `<caption>Saved scenarios side by side (outcomes at ${esc(timeUnit(false))} ${state.setup.final_time})</caption>` + html;
  table.querySelectorAll("button[data-remove]").forEach((b) => b.addEventListener("click", () => {
    state.saved.splice(Number(b.dataset.remove), 1);
    drawExplore();
  }));
}
function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
function downloadCsv() {
  if (!state.run) return;
  const outcomes = state.setup.outcomes.map((o) => o.variable);
  const names = state.setup.sliders.map((s) => s.name);
  const rows = [["scenario", "time", ...outcomes, ...names]];
  const runs = [{name: "current run", values: state.values, times: state.run.times, series: state.run.series}, ...state.saved];
  for (const run of runs) {
    run.times.forEach((t, i) => rows.push([run.name, t, ...outcomes.map((o) => run.series[o][i]), ...names.map((n) => run.values[n])]));
  }
  const text = rows.map((r) => r.map(csvCell).join(",")).join("\n") + "\n";
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], {type: "text/csv"}));
  link.download = "sdnet-runs.csv";
  document.body.appendChild(link);
  link.click();
  link.remove();
}

// ------------------------------------------------------------------ game mode
function labelOf(variable) {
  const all = [...state.setup.outcomes, ...((state.setup.game && state.setup.game.charts) || [])];
  const found = all.find((o) => o.variable === variable);
  return found ? found.label : variable;
}
function gameRulesText(rules) {
  const unit = timeUnit(false), units = timeUnit(true);
  return `Every ${rules.period} ${units} you set ${word("schedule")} for the next period and the other levers; ` +
    `the model then runs to your next decision. ${capital(word("schedule"))} stops at ${unit} ` +
    `${rules.decide_until} and the model runs on to ${unit} ${rules.final_time}. Your score counts ` +
    `the plausible worlds in which ${labelOf(rules.outcome)} is still at least ` +
    `${Math.round(rules.sustain_fraction * 100)}% of ${labelOf(rules.population)} (${word("population")}) at ` +
    `${unit} ${rules.final_time} (100 points if all do), minus ${rules.cost_weight} points per million of ` +
    `${labelOf(rules.cost)}. The ${presetWord()} and the other settings are those of the Explore tab.`;
}
function buildGame() {
  const rules = state.setup.game;
  if (!rules) {
    $("game-intro").textContent = "This model has no game: it needs a model card with a push schedule " +
      "and a [game] table naming the outcome, population and cost to score.";
    $("game-start").hidden = true;
    return;
  }
  $("game-intro").textContent = gameRulesText(rules);
  $("game-time-unit").textContent = capital(timeUnit(false));
  $("tab-game").addEventListener("click", () => {
    const preset = state.preset ? state.preset.replace(/_/g, " ") : "as set in Explore";
    $("game-region").textContent = `${capital(presetWord())}: ${preset}`;
  });
  $("game-start").addEventListener("click", startGame);
  $("game-step").addEventListener("click", stepGame);
}
async function startGame() {
  try {
    const game = await api("api/game/new", {values: state.values});
    state.game = game;
    const rules = state.setup.game;
    $("game-sliders").innerHTML = rules.levers.map((name) => {
      const slider = state.setup.sliders.find((s) => s.name === name);
      return sliderHtml(slider, game.start[name], "g-");
    }).join("");
    $("game-sliders").oninput = (event) => {
      const name = event.target.dataset.name;
      const slider = state.setup.sliders.find((s) => s.name === name);
      $("g-out-" + name).textContent = `${fmt(Number(event.target.value), slider.units)} ${unitText(slider.units)}`;
    };
    $("game-play").hidden = false;
    $("game-score").hidden = true;
    $("game-start").textContent = "Start again";
    showError(null);
    drawGame();
  } catch (error) { showError(error); }
}
async function stepGame() {
  const game = state.game;
  if (!game || game.finished) return;
  const decision = {};
  $("game-sliders").querySelectorAll("input[data-name]").forEach((input) => { decision[input.dataset.name] = Number(input.value); });
  $("game-step").disabled = true;
  try {
    state.game = await api("api/game/step", {game: game.game, decision});
    showError(null);
    drawGame();
  } catch (error) { showError(error); }
  $("game-step").disabled = state.game.finished;
}
function drawGame() {
  const game = state.game, rules = state.setup.game;
  $("game-year").textContent = game.finished ? `${rules.final_time}: game over` : String(game.year);
  $("game-step").textContent = game.finished ? "Game over" :
    `Decide and run ${timeUnit(true)} ${game.next_decision}–${game.period_end}`;
  $("game-step").disabled = game.finished;
  const outcomes = rules.charts.map((c) => state.setup.outcomes.find((o) => o.variable === c.variable) || c);
  const marks = rules.decision_times.slice(1).concat([rules.decide_until]).filter((t) => t <= game.year);
  drawCharts($("game-charts"), outcomes.map((o) => ({variable: o.variable, title: o.label, units: o.units,
    xmax: rules.final_time, marks, lines: [{times: game.times, values: game.series[o.variable], color: CURRENT, width: 3, cls: "current"}]})));
  if (game.score) drawScore(game.score);
}
function drawScore(score) {
  $("game-score").hidden = false;
  $("score-value").textContent = score.yours.score.toFixed(1);
  $("score-rank").textContent = `(${score.rank - 1} of ${score.n_policies} simple policies scored higher)`;
  $("score-rules").textContent = `Every policy faced the same ${score.n_worlds} plausible worlds: ${score.source}. ` +
    `${capital(labelOf(score.rules.outcome))} and ${labelOf(score.rules.quality)} are means at ${timeUnit(false)} ` +
    `${score.rules.final_time}, ${score.rules.final_time - score.rules.decide_until} ${timeUnit(true)} after ${word("schedule")} stopped.`;
  const names = Object.keys(score.trajectories);
  const outcome = state.setup.game.charts.find((c) => c.variable === score.rules.outcome) ||
    {label: score.rules.outcome, units: ""};
  drawCharts($("score-chart"), [{variable: "score", title: `${capital(outcome.label)} in the model's own world`,
    units: outcome.units, xmax: score.rules.final_time, marks: [score.rules.decide_until],
    lines: names.map((name, i) => ({times: score.times, values: score.trajectories[name], color: i ? COLORS[i - 1] : CURRENT,
      width: i ? 2 : 3, dash: i ? "6 4" : "", cls: i ? "other" : "current"}))}]);
  $("score-legend").replaceChildren(...names.map((name, i) => {
    const span = document.createElement("span");
    span.textContent = name;
    span.style.setProperty("--swatch", i ? COLORS[i - 1] : CURRENT);
    return span;
  }));
  const label = (r) => r.name === score.best.name ? `${r.name} (best)` : r.name === score.typical.name ? `${r.name} (typical)` : r.name;
  const units = (variable) => ((state.setup.game.charts.find((c) => c.variable === variable)) || {units: ""}).units;
  let html = "<caption>What other choices would have given</caption><tr><th>policy</th><th>score</th><th>worlds sustained</th>" +
    `<th>${esc(labelOf(score.rules.outcome))} (mean)</th><th>${esc(labelOf(score.rules.quality))}</th><th>${esc(labelOf(score.rules.cost))}</th></tr>`;
  for (const r of [score.yours, ...score.others]) {
    html += `<tr class="${r === score.yours ? "yours" : ""}"><td title="${esc(r.description)}">${esc(label(r))}</td><td>${r.score.toFixed(1)}</td>` +
      `<td>${Math.round(100 * r.sustained)}%</td><td>${esc(fmt(r.outcome, units(score.rules.outcome)))}</td>` +
      `<td>${esc(fmt(r.quality, units(score.rules.quality)))}</td><td>${esc(fmt(r.cost, units(score.rules.cost)))}</td></tr>`;
  }
  $("score-table").innerHTML = html;
}

// ------------------------------------------------------------------ start
function showTab(name) {
  for (const tab of ["explore", "game"]) {
    $(tab).hidden = tab !== name;
    $("tab-" + tab).classList.toggle("active", tab === name);
  }
}
async function main() {
  $("tab-explore").addEventListener("click", () => showTab("explore"));
  $("tab-game").addEventListener("click", () => showTab("game"));
  try {
    state.setup = await api("api/setup");
  } catch (error) { showError(error); return; }
  document.title = state.setup.title;
  $("title").textContent = state.setup.title;
  for (const slider of state.setup.sliders) state.values[slider.name] = slider.start;
  buildExplore();
  buildGame();
  await requestRun(performance.now());
  document.body.dataset.ready = "true";
}
main();
