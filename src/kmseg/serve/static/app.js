// kmseg serve: the page. Plain JavaScript, no build step, no network beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  image: null,        // metadata of the current image
  original: null,     // ImageData of its preview
  result: null,       // the last segmentation shown
  labels: null,       // Uint8Array, one label per preview pixel
  selected: null,     // isolated cluster, or null
  seq: 0,             // number of the latest segment request
  openSeq: 0,         // number of the latest file opened (image or scan)
  controller: null,   // AbortController of the request in flight
  client: Math.random().toString(36).slice(2, 12),
  options: null,      // the parameters' choices and ranges (GET /api/options)
  colours: [],        // a sample of the image's colours, for the colour chart
  busy: 0,            // requests in flight
};
// Display names of colour spaces; a space without one shows as it is named.
const SPACE_NAMES = { rgb: "RGB", lab: "CIE Lab", oklab: "OKLab" };
// The API's parameter names as the page's controls call them (an error names its control).
const FIELD_LABELS = { k: "k", attempts: "Attempts", seed: "Seed", space: "Colour space",
                       k_max: "The largest k", window: "Window", what: "Export" };
// Request-to-image-shown times (the browser test and the latency benchmark read them), and
// every result drawn with the image it belongs to (the test checks none is drawn under another).
window.kmseg = { latencies: [], renders: [], state };

// Every request counts as work in flight: the spinner and body[data-busy] show while any runs.
async function api(path, options = {}) {
  setBusy(+1);
  try {
    const response = await fetch(path, options);
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      const error = new Error(errorText(detail));
      error.status = response.status;
      error.field = fieldOf(detail);
      throw error;
    }
    return response;
  } finally {
    setBusy(-1);
  }
}

function setBusy(change) {
  state.busy += change;
  if (state.busy > 0) document.body.dataset.busy = "true"; else delete document.body.dataset.busy;
  $("busy-text").textContent = state.busy > 0 ? "working…" : "";
}

// The result fades (and is marked busy for assistive technology) while it is being replaced.
function setStageBusy(busy) {
  $("stage").classList.toggle("busy", busy);
  $("stage").setAttribute("aria-busy", String(busy));
}

// An error's detail as one sentence: a string, or (422) a list of {loc, msg, type} whose first
// item is said of the control it is about ("Attempts should be greater than or equal to 1.").
function errorText(detail) {
  if (!Array.isArray(detail)) return typeof detail === "string" ? detail : JSON.stringify(detail);
  const first = detail[0] || {};
  const field = fieldOf(detail);
  const message = String(first.msg || "invalid value");
  if (field === undefined) return message;
  const name = FIELD_LABELS[field] || field;
  return /^Input should/.test(message)
    ? `${name} ${message.replace(/^Input /, "")}.` : `${name}: ${message}`;
}

function fieldOf(detail) {
  return Array.isArray(detail) ? ((detail[0] || {}).loc || [])[1] : undefined;
}

// A message next to the control it is about (a field with its own slot), else under the header.
function showError(message, field) {
  const slot = field && $(`${field}-error`);
  if (slot) {
    slot.textContent = message;
    slot.hidden = !message;
    const control = $(field);
    if (control) control.setAttribute("aria-invalid", String(Boolean(message)));
    return;
  }
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function clearErrors() {
  showError("");
  for (const slot of document.querySelectorAll(".field-error")) {
    showError("", slot.id.replace(/-error$/, ""));
  }
}

// The controls' choices, bounds and defaults, as the API accepts them; false if unavailable.
async function loadOptions() {
  try {
    const options = await (await api("/api/options")).json();
    const space = $("space");
    space.replaceChildren(...options.space.choices.map(
      (name) => new Option(SPACE_NAMES[name] || name, name)));
    space.value = options.space.default;
    for (const id of ["k", "attempts", "seed"]) {
      const input = $(id), range = options[id];
      input.min = range.min; input.max = range.max; input.value = range.default;
    }
    $("k-value").textContent = $("k").value;
    state.options = options;
    return true;
  } catch (error) {
    showError(error.message);
    return false;
  }
}

// A whole number within the API's range, or a sentence next to the control (nothing is sent).
function checkedNumber(id) {
  const input = $(id), range = state.options[id];
  const value = Number(input.value);
  const ok = input.value.trim() !== "" && Number.isInteger(value) &&
             value >= range.min && value <= range.max;
  showError(ok ? "" : `${FIELD_LABELS[id]} should be a whole number from ${range.min} to ` +
            `${range.max}.`, id);
  return ok;
}

// Every number field of the image's parameters checked (each invalid one says so).
function numbersChecked() {
  return ["attempts", "seed"].map(checkedNumber).every(Boolean);
}

function params() {
  return {
    k: $("auto").checked ? "auto" : Number($("k").value),
    space: $("space").value,
    attempts: Number($("attempts").value),
    seed: Number($("seed").value),
    regions: $("regions").checked,
  };
}

// A new file: whatever was shown goes at once (never a result under the new name), and the
// answers to anything asked before are dropped. Returns the opening's number.
function startOpening(name) {
  state.seq++;
  if (state.controller) state.controller.abort();
  forgetScan();                          // scan.js: a scan's answers on their way are dropped too
  setStageBusy(false);
  $("choose").removeAttribute("aria-disabled");
  state.image = state.result = state.labels = state.original = null;
  state.selected = null;
  state.colours = [];
  clearErrors();
  for (const canvas of document.querySelectorAll("#frames canvas")) {
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  }
  $("palette").replaceChildren();
  $("status").textContent = "";
  setInfo(`opening ${name}…`, "");
  clearChoice();
  drawColours();
  document.body.dataset.shownK = "";
  return ++state.openSeq;
}

function setInfo(text, id) {
  $("image-info").textContent = text;
  $("image-info").dataset.id = id;
}

async function openImage(name, request) {
  if (!(await optionsLoaded)) return;
  const opening = startOpening(name);
  try {
    const meta = await (await request()).json();
    if (opening !== state.openSeq) return;
    setMode("image");
    state.image = meta;
    setInfo(`${meta.name}: ${meta.width} × ${meta.height}, ${meta.description}` +
      (meta.preview_width !== meta.width ? ` (preview ${meta.preview_width} × ${meta.preview_height})` : ""),
      meta.id);
    const preview = await loadBitmap(`/api/images/${meta.id}/preview.png`);
    if (opening !== state.openSeq) return;
    state.original = imageData(preview, meta.preview_width, meta.preview_height);
    drawOriginal();
    loadColours(meta.id);
    await segment();
  } catch (error) {
    if (opening !== state.openSeq) return;
    setInfo("", "");
    showError(error.message);
  }
}

function upload(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  return openImage(file.name, () => api("/api/images", { method: "POST", body: form }));
}

async function loadBitmap(url) {
  const image = new Image();
  setBusy(+1);
  try {
    image.src = url;
    await image.decode();
  } finally {
    setBusy(-1);
  }
  return image;
}

function imageData(image, width, height) {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  return context.getImageData(0, 0, width, height);
}

// The latest request wins: an older one in flight is aborted, an older answer is dropped.
async function segment() {
  if (!state.image || !numbersChecked()) return;
  const seq = ++state.seq;
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  const started = performance.now();
  const imageId = state.image.id;
  setStageBusy(true);
  let result, labels;
  try {
    const response = await api(`/api/images/${imageId}/segment`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ...params(), client: state.client, seq }),
      signal: controller.signal,
    });
    result = await response.json();
    if (seq !== state.seq) return;
    const bitmap = await loadBitmap(result.labels_png);
    if (seq !== state.seq) return;
    const pixels = imageData(bitmap, result.width, result.height).data;
    labels = new Uint8Array(result.width * result.height);
    for (let i = 0; i < labels.length; i++) labels[i] = pixels[4 * i];
  } catch (error) {
    if (error.name === "AbortError" || error.status === 409 || seq !== state.seq) return;
    showError(error.message, error.field);
    return;
  } finally {
    if (seq === state.seq) setStageBusy(false);
  }
  state.result = { ...result, imageId };
  state.labels = labels;
  if (state.selected !== null && state.selected >= result.k) state.selected = null;
  clearErrors();
  render();
  renderPalette();
  drawColours();
  const ms = performance.now() - started;
  window.kmseg.latencies.push({ k: result.k, ms, server_ms: result.server_ms });
  $("status").textContent = `k = ${result.k} · ${Math.round(ms)} ms`;
  document.body.dataset.shownK = String(result.k);
  if ($("auto").checked) { $("k").value = result.k; $("k-value").textContent = result.k; }
}

function rgbOf(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

function drawOriginal() {
  const { original } = state;
  if (!original) return;
  for (const canvas of document.querySelectorAll("#frames canvas")) {
    canvas.width = original.width; canvas.height = original.height;
  }
  $("original").getContext("2d").putImageData(original, 0, 0);
}

function render() {
  const { result, labels, original } = state;
  const view = document.querySelector("input[name=view]:checked").value;
  $("stage").classList.toggle("side", view === "side");
  $("stage").classList.toggle("single", view !== "side");
  $("split-label").hidden = view !== "split";
  if (!result || !original) return;
  const { width, height } = result;
  const palette = [];                    // by label: 0..k-1 for images, 1..k for scans
  for (const entry of result.palette) palette[entry.label] = rgbOf(entry.hex);
  const masked = result.masked_label;
  const source = original.data;
  const out = new ImageData(width, height);
  const data = out.data;
  const split = Math.round((Number($("split").value) / 100) * width);
  const selected = state.selected;
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      const label = labels[i];
      const o = 4 * i;
      if (label === masked) { data[o + 3] = 0; continue; }
      const edge = (x + 1 < width && labels[i + 1] !== label) ||
                   (y + 1 < height && labels[i + width] !== label);
      let r, g, b;
      if (selected !== null) {            // isolate: the cluster's own pixels, nothing else
        if (label !== selected) { data[o + 3] = 0; continue; }
        r = source[o]; g = source[o + 1]; b = source[o + 2];
      } else if (view === "overlay" || (view === "split" && x < split)) {
        r = source[o]; g = source[o + 1]; b = source[o + 2];
        if (view === "overlay" && edge) { r = 255; g = 221; b = 0; }
      } else {
        [r, g, b] = palette[label];
      }
      if (view === "split" && x === split) { r = 255; g = 255; b = 255; }
      data[o] = r; data[o + 1] = g; data[o + 2] = b; data[o + 3] = 255;
    }
  }
  drawOriginal();
  $("result").getContext("2d").putImageData(out, 0, 0);
  window.kmseg.renders.push({ shown: $("image-info").dataset.id || null,
                              of: result.imageId ?? null });
}

function renderPalette() {
  const box = $("palette");
  box.replaceChildren();
  for (const entry of state.result.palette) {
    const swatch = document.createElement("button");
    swatch.type = "button";
    swatch.className = "swatch";
    swatch.dataset.label = entry.label;
    const share = entry.text || `${(100 * entry.share).toFixed(1)} %`;
    swatch.setAttribute("aria-pressed", String(state.selected === entry.label));
    swatch.setAttribute("aria-label", `cluster ${entry.label}, colour ${entry.hex}, ${share}`);
    swatch.title = `cluster ${entry.label}: ${entry.hex}`;
    const colour = document.createElement("span");
    colour.style.background = entry.hex;
    swatch.append(colour, share);
    swatch.addEventListener("click", () => {
      state.selected = state.selected === entry.label ? null : entry.label;
      render();
      renderPalette();
      box.querySelector(`[data-label="${entry.label}"]`).focus();
    });
    box.append(swatch);
  }
  for (const button of document.querySelectorAll("[data-what=cutout], [data-what=mask]")) {
    button.disabled = state.selected === null;
  }
}

async function loadColours(imageId) {
  try {
    const { colors } = await (await api(`/api/images/${imageId}/colors?n=3000`)).json();
    if (!state.image || state.image.id !== imageId) return;
    state.colours = colors;
    drawColours();
  } catch (error) {
    if (state.image && state.image.id === imageId) showError(error.message);
  }
}

// Hue (degrees) and lightness (0..1, HSL) of a colour: the colour chart's axes.
function hueLightness(hex) {
  const [r, g, b] = rgbOf(hex).map((v) => v / 255);
  const max = Math.max(r, g, b), min = Math.min(r, g, b), d = max - min;
  let hue = 0;
  if (d > 0) {
    hue = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
    hue = (hue * 60 + 360) % 360;
  }
  return [hue, (max + min) / 2];
}

// Sampled colours by hue (across) and lightness (up), with axes; the centres as circles.
function drawColours() {
  const canvas = $("colors");
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  const left = 36, bottom = 30, top = 8, right = 16;
  const x = (hue) => left + (hue / 360) * (width - left - right);
  const y = (lightness) => top + (1 - lightness) * (height - top - bottom);
  context.clearRect(0, 0, width, height);
  context.font = "11px system-ui, sans-serif";
  context.fillStyle = context.strokeStyle = "#596170";
  context.beginPath();
  context.moveTo(left, top); context.lineTo(left, y(0)); context.lineTo(x(360), y(0));
  context.stroke();
  context.textAlign = "center";
  for (const hue of [0, 90, 180, 270, 360]) context.fillText(String(hue), x(hue), y(0) + 13);
  context.fillText("hue (°)", (left + width) / 2, height - 3);
  context.textAlign = "right";
  for (const l of [0, 0.5, 1]) context.fillText(`${100 * l}`, left - 4, y(l) + 4);
  context.save();
  context.translate(10, (top + y(0)) / 2);
  context.rotate(-Math.PI / 2);
  context.textAlign = "center";
  context.fillText("lightness (%)", 0, 0);
  context.restore();
  for (const hex of state.colours) {
    const [hue, lightness] = hueLightness(hex);
    context.fillStyle = hex;
    context.fillRect(x(hue) - 1, y(lightness) - 1, 3, 3);
  }
  if (!state.result || !state.result.palette) return;
  for (const entry of state.result.palette) {
    const [hue, lightness] = hueLightness(entry.hex);
    context.beginPath();
    context.arc(x(hue), y(lightness), 7, 0, 2 * Math.PI);
    context.fillStyle = entry.hex;
    context.fill();
    context.lineWidth = 2;
    context.strokeStyle = "#000";
    context.stroke();
    context.lineWidth = 1;
    context.strokeStyle = "#fff";
    context.stroke();
  }
}

// Every criterion of choosing k, the recommended row marked, each criterion's best underlined.
const CRITERIA = [
  ["compactness", "SSE", null], ["psnr", "PSNR dB", "max"], ["mean_delta_e2000", "ΔE", null],
  ["silhouette", "silh.", "max"], ["calinski_harabasz", "CH", "max"],
  ["davies_bouldin", "DB", "min"],
];

function clearChoice() {
  $("choose-chart").replaceChildren();
  $("choose-chart").toggleAttribute("hidden", true);
  $("choose-reason").textContent = "";
  $("choose-table").replaceChildren();
  $("use-k").hidden = true;
}

async function chooseK() {
  const button = $("choose");
  if (!state.image || button.getAttribute("aria-disabled") === "true" ||
      !checkedNumber("seed")) return;
  button.setAttribute("aria-disabled", "true");  // not disabled: the focus stays on it
  const imageId = state.image.id;
  try {
    const response = await api(`/api/images/${imageId}/choose-k`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ space: $("space").value, seed: Number($("seed").value) }),
    });
    const choice = await response.json();
    if (!state.image || state.image.id !== imageId) return;
    drawChoice(choice);
    $("choose-chart").toggleAttribute("hidden", false);
    $("choose-reason").textContent = choice.reason;
    $("choose-table").replaceChildren(choiceTable(choice));
    const use = $("use-k");
    use.textContent = `Use k = ${choice.k}`;
    use.dataset.k = choice.k;
    use.hidden = false;
  } catch (error) {
    if (state.image && state.image.id === imageId) showError(error.message, error.field);
  } finally {
    if (state.image && state.image.id === imageId) button.removeAttribute("aria-disabled");
  }
}

function drawChoice(choice) {
  const svg = $("choose-chart");
  const w = 320, h = 180, left = 52, bottom = 34, top = 22, right = 12;
  const values = choice.compactness;
  const high = Math.max(...values), low = Math.min(...values);
  const x = (k) => left + ((k - choice.ks[0]) / (choice.ks.at(-1) - choice.ks[0] || 1)) *
                   (w - left - right);
  const y = (v) => h - bottom - ((v - low) / (high - low || 1)) * (h - top - bottom);
  const points = choice.ks.map((k, i) => `${x(k)},${y(values[i])}`).join(" ");
  const at = choice.ks.indexOf(choice.k);
  const text = (tx, ty, s, anchor = "middle") =>
    `<text x="${tx}" y="${ty}" font-size="10" text-anchor="${anchor}" fill="#1d2125">${s}</text>`;
  svg.innerHTML =
    `<title id="choose-title">compactness (SSE) by k; recommended k = ${choice.k}</title>` +
    `<path d="M${left},${top} V${h - bottom} H${w - right}" fill="none" stroke="#596170"/>` +
    `<polyline fill="none" stroke="#1d4ed8" stroke-width="2" points="${points}"/>` +
    `<circle cx="${x(choice.k)}" cy="${y(values[at])}" r="5" fill="#b91c1c"/>` +
    choice.ks.map((k) => text(x(k), h - bottom + 13, k)).join("") +
    text((left + w - right) / 2, h - 4, "k") +
    [low, high].map((v) => text(left - 4, y(v) + 3, v.toPrecision(2), "end")).join("") +
    text(left, 12, `compactness (SSE); red: recommended k = ${choice.k}`, "start");
}

function choiceTable(choice) {
  const table = document.createElement("table");
  const shown = CRITERIA.filter(([key]) => Array.isArray(choice[key]));
  const best = {};
  for (const [key, , sense] of shown) {
    const finite = choice[key].filter((v) => v !== null);
    if (sense && finite.length) best[key] = (sense === "max" ? Math.max : Math.min)(...finite);
  }
  const head = table.createTHead().insertRow();
  for (const name of ["k", ...shown.map(([, name]) => name)]) {
    const cell = document.createElement("th");
    cell.scope = "col";
    cell.textContent = name;
    head.append(cell);
  }
  const body = table.createTBody();
  choice.ks.forEach((k, i) => {
    const row = body.insertRow();
    if (k === choice.k) row.className = "recommended";
    const kCell = document.createElement("th");
    kCell.scope = "row";
    kCell.textContent = k;
    row.append(kCell);
    for (const [key] of shown) {
      const value = choice[key][i];
      const cell = row.insertCell();
      cell.textContent = value === null ? "—" : Number(value).toPrecision(3);
      if (value !== null && value === best[key]) cell.className = "best";
    }
  });
  return table;
}

function useChosenK() {
  const k = $("use-k").dataset.k;
  $("auto").checked = false;
  $("k").value = k;
  $("k-value").textContent = k;
  segment();
}

function download(what) {
  if (!state.image || !numbersChecked()) return;
  return downloadExport(`/api/images/${state.image.id}/export`,
                        { ...params(), what, cluster: state.selected ?? 0 }, what);
}

// POST an export request and save the answer under the name the server gives it.
async function downloadExport(url, body, what) {
  try {
    const response = await api(url, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = name ? name[1] : `kmseg_${what}`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) {
    showError(error.message, error.field);
  }
}

// An image, or a scan (scan.js): a volume's file name, or several files (a DICOM series).
async function open(files) {
  if (!files.length) return;
  if (await isScan(files)) openScan(files); else upload(files[0]);
}

// Segment again with the controls' values: the image, or the scan.
function refresh() {
  return document.body.dataset.mode === "scan" ? segmentScan() : segment();
}

const optionsLoaded = loadOptions();
$("open-file").addEventListener("click", () => $("file").click());
$("open-folder").addEventListener("click", () => $("folder").click());
$("file").addEventListener("change", (event) => open([...event.target.files]));
$("folder").addEventListener("change", (event) => open([...event.target.files]));
$("sample").addEventListener("click", () => openImage(
  "the sample photo", () => api("/api/sample", { method: "POST" })));
// An image follows the slider as it moves; a scan (the whole volume again, seconds with the
// tissue preset) once it is let go.
$("k").addEventListener("input", () => {
  $("k-value").textContent = $("k").value;
  $("auto").checked = false;
  if (document.body.dataset.mode !== "scan") segment();
});
$("k").addEventListener("change", () => {
  if (document.body.dataset.mode === "scan") segmentScan();
});
for (const id of ["auto", "space", "attempts", "seed", "regions"]) {
  $(id).addEventListener("change", refresh);
}
for (const radio of document.querySelectorAll("input[name=view]")) {
  radio.addEventListener("change", render);
}
$("split").addEventListener("input", render);
$("choose").addEventListener("click", chooseK);
$("use-k").addEventListener("click", useChosenK);
for (const button of document.querySelectorAll("#downloads button")) {
  button.addEventListener("click", () => download(button.dataset.what));
}
document.body.addEventListener("dragover", (event) => {
  event.preventDefault();
  document.body.classList.add("dragging");
});
document.body.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
document.body.addEventListener("drop", (event) => {
  event.preventDefault();
  document.body.classList.remove("dragging");
  open([...event.dataTransfer.files]);
});
drawColours();
