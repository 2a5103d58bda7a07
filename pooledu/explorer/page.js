// The explorer's drawing script. Every number it shows is in the embedded data
// (pooledu's kernels and checks ran for every setting); this script only picks
// the entry for the current controls and lays it out as cells and text.
"use strict";

const DATA = JSON.parse(document.getElementById("pooledu-data").textContent);
// pooledu.viz.style.WINDOW_COLORS: window t gets colour t (mod 9), as in the figures
const COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9",
                "#8C6D1F", "#882255", "#332288"];
const PLAY_MS = 900;

const $ = (id) => document.getElementById(id);
const controls = {
  size: $("c-size"), kernel: $("c-kernel"), stride: $("c-stride"), padding: $("c-padding"),
  dilation: $("c-dilation"), mode: $("c-mode"), ceil_mode: $("c-ceil"),
  count_include_pad: $("c-cip"),
};
const state = { step: 0, timer: null, savedDilation: null };

// A number as the figures print it (labels made by pooledu.viz.style.format_value).
function label(v) {
  if (v === null) return "-inf";  // a window of padding only
  const text = DATA.labels[String(v)];
  if (text === undefined) throw new Error("no label for " + v);
  return text;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A grid cell showing `text`; long numbers get a smaller font, as in the figures.
function cellOf(cls, text) {
  const cell = el("div", cls, text);
  if (text.length > 4) cell.classList.add("long");
  return cell;
}

function fillSelect(select, values) {
  for (const v of values) select.append(new Option(String(v), String(v)));
}

function settings() {
  return {
    size: +controls.size.value, kernel: +controls.kernel.value, stride: +controls.stride.value,
    padding: +controls.padding.value, dilation: +controls.dilation.value,
    ceil: controls.ceil_mode.checked, mode: controls.mode.value,
    cip: controls.count_include_pad.checked,
  };
}

// The keys of pooledu.explorer.data.config_key and geometry_key.
function keys(s) {
  const geometry = [s.size, s.kernel, s.stride, s.padding, s.dilation, +s.ceil].join("|");
  const tail = s.mode === "max" ? s.dilation : +s.cip;
  return { geometry, result: [s.mode, s.size, s.kernel, s.stride, s.padding, tail, +s.ceil].join("|") };
}

function explainCommand(s) {
  let cmd = `pooledu explain --size ${s.size} --kernel ${s.kernel} --stride ${s.stride} --padding ${s.padding}`;
  if (s.dilation > 1) cmd += ` --dilation ${s.dilation}`;
  if (s.ceil) cmd += " --ceil-mode";
  return cmd;
}

// ---------------------------------------------------------------------------
// grids

function gridOf(container, columns) {
  container.replaceChildren();
  container.style.gridTemplateColumns = `repeat(${columns}, var(--cell))`;
  return container;
}

// The input with its padding ring (and, with ceil_mode, the cells past it that a
// window reaches), the current window's taps tinted, its winner ringed.
function drawInput(s, x, window) {
  const p = s.padding;
  let lo = -p, hi = s.size - 1 + p;
  if (window) {
    for (const taps of window.allTaps.concat(window.dropped ? [window.dropped] : [])) {
      lo = Math.min(lo, taps[0]); hi = Math.max(hi, taps[taps.length - 1]);
    }
  }
  const grid = gridOf($("input-grid"), hi - lo + 1);
  grid.style.gridTemplateColumns = `var(--label) ${grid.style.gridTemplateColumns}`;
  grid.append(el("div", "idx corner"));  // row and column numbers, padding negative
  for (let j = lo; j <= hi; j++) grid.append(el("div", "idx col-idx", String(j)));
  const cells = [];
  for (let i = lo; i <= hi; i++) {
    grid.append(el("div", "idx row-idx", String(i)));
    for (let j = lo; j <= hi; j++) {
      const inside = i >= 0 && i < s.size && j >= 0 && j < s.size;
      const padded = i >= -p && i < s.size + p && j >= -p && j < s.size + p;
      const cell = el("div", inside ? "cell in-cell" : padded ? "cell pad-cell" : "cell beyond-cell",
                      inside ? String(x[i][j]) : "");
      cell.dataset.row = i; cell.dataset.col = j;
      if (window && window.rows.includes(i) && window.cols.includes(j)) {
        cell.classList.add("tap");
        cell.style.setProperty("--win", window.color);
        cells.push({ i, j, inside, padded, value: inside ? x[i][j] : null });
      }
      if (window && window.dropped && window.dropped.includes(i) && window.dropped.includes(j)) {
        cell.classList.add("dropped");  // the window ceil_mode would add but drops
      }
      if (window && window.winner && window.winner[0] === i && window.winner[1] === j) {
        cell.classList.add("winner");
      }
      grid.append(cell);
    }
  }
  return cells;
}

function drawOutput(s, r, step) {
  const n = r.out;
  const grid = gridOf($("output-grid"), n);
  for (let t = 0; t < n * n; t++) {
    const done = t <= step;
    const cell = cellOf("cell out-cell" + (done ? " done" : " pending"), done ? label(r.y[t]) : "");
    cell.style.setProperty("--win", COLORS[t % COLORS.length]);
    if (t === step) cell.classList.add("current");
    cell.title = `output (${Math.floor(t / n)}, ${t % n})`;
    grid.append(cell);
  }
}

// The gradient after `step`: the backward kernel's result for gradient 1 on outputs
// 0..step, stored as the cells each step changed; replaying them is copying values.
function drawGradient(s, r, step) {
  const plane = new Array(s.size * s.size).fill(0);
  for (let t = 0; t <= step; t++) {
    const pairs = r.grad[t];
    for (let q = 0; q < pairs.length; q += 2) plane[pairs[q]] = pairs[q + 1];
  }
  const hit = new Set();
  for (let q = 0; q < r.grad[step].length; q += 2) hit.add(r.grad[step][q]);
  const grid = gridOf($("grad-grid"), s.size);
  plane.forEach((v, c) => {
    const cell = cellOf("cell grad-cell" + (v === 0 ? " zero" : ""), label(v));
    if (hit.has(c)) { cell.classList.add("hit"); cell.style.setProperty("--win", COLORS[step % COLORS.length]); }
    grid.append(cell);
  });
  return plane;
}

// ---------------------------------------------------------------------------
// text

function drawArithmetic(s, g, a, b) {
  const pre = $("arithmetic");
  pre.replaceChildren();
  for (const line of g.explain.split("\n")) {
    const span = el("span", "line", line);
    const m = line.match(/^ {2}window +(\d+):/);
    if (m && +m[1] === a) span.classList.add("row-line");
    if (m && +m[1] === b) span.classList.add("col-line");
    if (line.startsWith("invalid:")) span.classList.add("invalid-line");
    if (line.startsWith("Output size:")) span.classList.add("result-line");
    pre.append(span, "\n");
  }
  $("explain-command").textContent = explainCommand(s);
}

function forwardCaption(s, r, step, a, b, taps) {
  const inside = taps.filter((c) => c.inside);
  const head = `Output (${a}, ${b}) reads ${taps.length} taps, ${inside.length} inside the input: `;
  if (s.mode === "max") {
    if (r.y[step] === null) {
      return head + "a window of padding only. Max gives -inf, there is no winner (index -1) and no gradient.";
    }
    const values = inside.map((c) => c.value);
    const w = r.idx[step];
    const ties = values.filter((v) => String(v) === label(r.y[step])).length;
    let text = `${head}max(${values.join(", ")}) = ${label(r.y[step])}; the winner is input ` +
               `(${Math.floor(w / s.size)}, ${w % s.size}), flat index ${w}.`;
    if (ties > 1) text += " A tie: the first of the equal values in row-major order wins.";
    if (inside.length < taps.length) text += " Padding counts as -inf, so it never wins.";
    return text;
  }
  const counted = taps.filter((c) => c.inside || (s.cip && c.padded));
  const terms = counted.map((c) => (c.inside ? String(c.value) : "0"));
  let text = `${head}(${terms.join(" + ")}) / ${r.div[step]} = ${label(r.y[step])}. `;
  text += s.cip ? "count_include_pad: the divisor counts the window's cells inside the padded input (padding adds 0)"
                : "Without count_include_pad the divisor counts only the cells inside the input";
  if (taps.some((c) => !c.padded)) text += "; cells past the padding are never counted";
  return text + ".";
}

function backwardCaption(s, r, step, a, b, plane) {
  if (s.mode === "max") {
    const w = r.idx[step];
    if (w < 0) return `Backward: output (${a}, ${b}) has no winner, so its gradient goes nowhere.`;
    return `Backward, with gradient 1 on each output: output (${a}, ${b}) sends its 1 to its winner, ` +
           `input (${Math.floor(w / s.size)}, ${w % s.size}), which now holds ${label(plane[w])}. ` +
           "A cell that wins several windows adds up their gradients; cells that win none get 0.";
  }
  return `Backward, with gradient 1 on each output: output (${a}, ${b}) spreads its 1 as 1/${r.div[step]} ` +
         "over the cells its divisor counted" + (s.cip && s.padding ? " (the share of padding is dropped)" : "") +
         "; where windows overlap, the shares add up.";
}

// ---------------------------------------------------------------------------
// the whole page for the current controls

function syncControls() {
  const avg = controls.mode.value === "avg";
  if (avg && !controls.dilation.disabled) {
    state.savedDilation = controls.dilation.value;
    controls.dilation.value = "1";  // avg_pool2d has no dilation argument
  } else if (!avg && controls.dilation.disabled && state.savedDilation !== null) {
    controls.dilation.value = state.savedDilation;
  }
  controls.dilation.disabled = avg;
  controls.dilation.title = avg ? "average pooling has no dilation (avg_pool2d takes none)" : "";
  controls.count_include_pad.disabled = !avg;
  controls.count_include_pad.parentElement.classList.toggle("off", !avg);
  controls.dilation.parentElement.classList.toggle("off", avg);
}

function render() {
  const s = settings();
  const k = keys(s);
  const g = DATA.geometry[k.geometry], r = DATA.results[k.result];
  const x = DATA.inputs[String(s.size)];
  const broken = "error" in r;
  document.body.classList.toggle("invalid", broken);
  $("rule").hidden = !broken;
  for (const id of ["first", "back", "play", "pause", "step", "last", "c-window"]) $(id).disabled = broken;
  $("t-input").textContent = `input ${s.size} × ${s.size}` + (s.padding ? `, padding ${s.padding}` : "");
  $("t-output").textContent = `${s.mode === "max" ? "max" : "average"} pooling`;
  if (broken) {
    $("rule").replaceChildren(el("strong", null, "This setting breaks a rule. pooledu says: "),
                              el("span", "rule-text", r.error));
    $("output-size").textContent = "none";
    drawInput(s, x, null);
    $("output-grid").replaceChildren(el("p", "empty", "no output"));
    $("grad-grid").replaceChildren(el("p", "empty", "no gradient"));
    $("step-text").textContent = "";
    $("forward-caption").textContent = "";
    $("backward-caption").textContent = "";
    drawArithmetic(s, g, -1, -1);
    return;
  }
  const n = r.out, last = n * n - 1;
  const step = Math.min(state.step, last);
  state.step = step;
  const a = Math.floor(step / n), b = step % n;
  const slider = $("c-window");
  slider.max = String(last);
  slider.value = String(step);
  const w = s.mode === "max" ? r.idx[step] : -1;
  const window = {
    rows: g.taps[a], cols: g.taps[b], allTaps: g.taps, dropped: g.dropped,
    color: COLORS[step % COLORS.length],
    winner: w >= 0 ? [Math.floor(w / s.size), w % s.size] : null,
  };
  $("output-size").textContent = `${n} × ${n}`;
  $("step-text").textContent = `${step + 1} of ${n * n}: output (${a}, ${b})`;
  const taps = drawInput(s, x, window);
  drawOutput(s, r, step);
  const plane = drawGradient(s, r, step);
  $("forward-caption").textContent = forwardCaption(s, r, step, a, b, taps);
  $("backward-caption").textContent = backwardCaption(s, r, step, a, b, plane);
  drawArithmetic(s, g, a, b);
  $("play").disabled = state.timer !== null;
  $("pause").disabled = state.timer === null;
}

function lastStep() {
  const r = DATA.results[keys(settings()).result];
  return "error" in r ? 0 : r.out * r.out - 1;
}

function setStep(step) {
  state.step = Math.max(0, Math.min(step, lastStep()));
  render();
}

function pause() {
  if (state.timer !== null) clearInterval(state.timer);
  state.timer = null;
  render();
}

function play() {
  if (state.timer !== null) return;
  if (state.step >= lastStep()) state.step = 0;
  state.timer = setInterval(() => {
    if (state.step >= lastStep()) pause(); else setStep(state.step + 1);
  }, PLAY_MS);
  render();
}

function init() {
  for (const name of ["size", "kernel", "stride", "padding", "dilation"]) {
    fillSelect(controls[name], DATA.controls[name]);
    controls[name].value = String(DATA.defaults[name]);
  }
  controls.mode.value = DATA.defaults.mode;
  controls.ceil_mode.checked = DATA.defaults.ceil_mode;
  controls.count_include_pad.checked = DATA.defaults.count_include_pad;
  for (const control of Object.values(controls)) {
    control.addEventListener("change", () => {
      if (state.timer !== null) { clearInterval(state.timer); state.timer = null; }
      syncControls();
      state.step = lastStep();  // a new setting opens on its finished output
      render();
    });
  }
  $("first").addEventListener("click", () => setStep(0));
  $("back").addEventListener("click", () => setStep(state.step - 1));
  $("step").addEventListener("click", () => setStep(state.step + 1));
  $("last").addEventListener("click", () => setStep(lastStep()));
  $("play").addEventListener("click", play);
  $("pause").addEventListener("click", pause);
  $("c-window").addEventListener("input", (e) => setStep(+e.target.value));
  document.addEventListener("keydown", (e) => {
    if (["SELECT", "INPUT", "BUTTON"].includes(e.target.tagName)) return;  // they have keys of their own
    const actions = { ArrowLeft: () => setStep(state.step - 1), ArrowRight: () => setStep(state.step + 1),
                      Home: () => setStep(0), End: () => setStep(lastStep()),
                      " ": () => (state.timer === null ? play() : pause()) };
    if (actions[e.key]) { e.preventDefault(); actions[e.key](); }
  });
  syncControls();
  state.step = lastStep();
  render();
}

init();
