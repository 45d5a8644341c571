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
  controller: null,   // AbortController of the request in flight
  client: Math.random().toString(36).slice(2, 12),
  options: null,      // the parameters' choices and ranges (GET /api/options)
};
// Display names of colour spaces; a space without one shows as it is named.
const SPACE_NAMES = { rgb: "RGB", lab: "CIE Lab", oklab: "OKLab" };
// Request-to-image-shown times, read by the browser test and the latency benchmark.
window.kmseg = { latencies: [], state };

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    const error = new Error(errorText(detail));
    error.status = response.status;
    throw error;
  }
  return response;
}

// An error's detail as one sentence: a string, or (422) a list of {loc, msg, type} whose first
// item is shown with the parameter it is about (loc: "body" or "query", the field, union tags).
function errorText(detail) {
  if (!Array.isArray(detail)) return typeof detail === "string" ? detail : JSON.stringify(detail);
  const first = detail[0] || {};
  const field = (first.loc || [])[1];
  return field === undefined ? String(first.msg) : `${field}: ${first.msg}`;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
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

function params() {
  return {
    k: $("auto").checked ? "auto" : Number($("k").value),
    space: $("space").value,
    attempts: Number($("attempts").value) || state.options.attempts.default,
    seed: Number($("seed").value) || 0,
    regions: $("regions").checked,
  };
}

async function openImage(request) {
  if (!(await optionsLoaded)) return;
  showError("");
  try {
    const meta = await (await request()).json();
    setMode("image");
    state.image = meta;
    state.result = null;
    state.selected = null;
    $("image-info").textContent =
      `${meta.name}: ${meta.width} × ${meta.height}, ${meta.description}` +
      (meta.preview_width !== meta.width ? ` (preview ${meta.preview_width} × ${meta.preview_height})` : "");
    const preview = await loadBitmap(`/api/images/${meta.id}/preview.png`);
    state.original = imageData(preview, meta.preview_width, meta.preview_height);
    drawColours();
    await segment();
  } catch (error) {
    showError(error.message);
  }
}

function upload(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  return openImage(() => api("/api/images", { method: "POST", body: form }));
}

async function loadBitmap(url) {
  const image = new Image();
  image.src = url;
  await image.decode();
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
  if (!state.image) return;
  const seq = ++state.seq;
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  const started = performance.now();
  let result;
  try {
    const response = await api(`/api/images/${state.image.id}/segment`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ...params(), client: state.client, seq }),
      signal: controller.signal,
    });
    result = await response.json();
  } catch (error) {
    if (error.name === "AbortError" || error.status === 409) return;
    if (seq === state.seq) showError(error.message);
    return;
  }
  if (seq !== state.seq) return;
  const bitmap = await loadBitmap(result.labels_png);
  if (seq !== state.seq) return;
  const pixels = imageData(bitmap, result.width, result.height).data;
  const labels = new Uint8Array(result.width * result.height);
  for (let i = 0; i < labels.length; i++) labels[i] = pixels[4 * i];
  state.result = result;
  state.labels = labels;
  if (state.selected !== null && state.selected >= result.k) state.selected = null;
  showError("");
  render();
  renderPalette();
  const ms = performance.now() - started;
  window.kmseg.latencies.push({ k: result.k, ms, server_ms: result.server_ms });
  $("status").textContent = `k = ${result.k} · ${Math.round(ms)} ms`;
  document.body.dataset.shownK = String(result.k);
  if ($("auto").checked) { $("k").value = result.k; $("k-value").textContent = result.k; }
}

function rgbOf(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

function render() {
  const { result, labels, original } = state;
  if (!result || !original) return;
  const view = document.querySelector("input[name=view]:checked").value;
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
  const stage = $("stage");
  stage.className = view === "side" ? "side" : "single";
  const resultCanvas = $("result");
  resultCanvas.width = width; resultCanvas.height = height;
  resultCanvas.getContext("2d").putImageData(out, 0, 0);
  const originalCanvas = $("original");
  originalCanvas.width = width; originalCanvas.height = height;
  originalCanvas.getContext("2d").putImageData(original, 0, 0);
}

function renderPalette() {
  const box = $("palette");
  box.replaceChildren();
  for (const entry of state.result.palette) {
    const swatch = document.createElement("button");
    swatch.type = "button";
    swatch.className = "swatch" + (state.selected === entry.label ? " selected" : "");
    swatch.dataset.label = entry.label;
    swatch.title = `cluster ${entry.label}: ${entry.hex}`;
    const colour = document.createElement("span");
    colour.style.background = entry.hex;
    swatch.append(colour, entry.text || `${(100 * entry.share).toFixed(1)} %`);
    swatch.addEventListener("click", () => {
      state.selected = state.selected === entry.label ? null : entry.label;
      render();
      renderPalette();
    });
    box.append(swatch);
  }
  for (const button of document.querySelectorAll("[data-what=cutout], [data-what=mask]")) {
    button.disabled = state.selected === null;
  }
}

async function drawColours() {
  const canvas = $("colors");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const { colors } = await (await api(`/api/images/${state.image.id}/colors?n=3000`)).json();
  for (const hex of colors) {                 // hue across, lightness up
    const [r, g, b] = rgbOf(hex).map((v) => v / 255);
    const max = Math.max(r, g, b), min = Math.min(r, g, b), d = max - min;
    let hue = 0;
    if (d > 0) {
      hue = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
      hue = (hue * 60 + 360) % 360;
    }
    context.fillStyle = hex;
    context.fillRect((hue / 360) * (canvas.width - 3), (1 - (max + min) / 2) * (canvas.height - 3), 3, 3);
  }
}

async function chooseK() {
  const button = $("choose");
  button.disabled = true;
  try {
    const response = await api(`/api/images/${state.image.id}/choose-k`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ space: $("space").value, seed: Number($("seed").value) || 0 }),
    });
    const choice = await response.json();
    const svg = $("choose-chart");
    const w = 300, h = 170, pad = 24;
    const top = Math.max(...choice.compactness), low = Math.min(...choice.compactness);
    const x = (k) => pad + ((k - choice.ks[0]) / (choice.ks.at(-1) - choice.ks[0])) * (w - 2 * pad);
    const y = (v) => h - pad - ((v - low) / (top - low || 1)) * (h - 2 * pad);
    const points = choice.ks.map((k, i) => `${x(k)},${y(choice.compactness[i])}`).join(" ");
    const at = choice.ks.indexOf(choice.k);
    svg.innerHTML =
      `<polyline fill="none" stroke="#2563eb" stroke-width="2" points="${points}"/>` +
      `<circle cx="${x(choice.k)}" cy="${y(choice.compactness[at])}" r="5" fill="#dc2626"/>` +
      choice.ks.map((k) => `<text x="${x(k)}" y="${h - 6}" font-size="10" text-anchor="middle">${k}</text>`).join("") +
      `<text x="${pad}" y="14" font-size="11">compactness by k; red: recommended k = ${choice.k}</text>`;
    $("choose-reason").textContent = choice.reason;
  } catch (error) {
    showError(error.message);
  } finally {
    button.disabled = false;
  }
}

function download(what) {
  if (!state.image) return;
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
    showError(error.message);
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
$("file").addEventListener("change", (event) => open([...event.target.files]));
$("folder").addEventListener("change", (event) => open([...event.target.files]));
$("sample").addEventListener("click", () => openImage(() => api("/api/sample", { method: "POST" })));
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
