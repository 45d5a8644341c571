// kmseg serve: scans (NIfTI, MGH, DICOM). A slice of one anatomical plane beside (or under) its
// classes, a slider through the slices, each class's volume in mL, exports as NIfTI.
// Uses app.js's page state, requests and drawing ($, state, api, render, renderPalette, ...).
"use strict";

// File names the page sends to /api/volumes rather than /api/images.
const SCAN_SUFFIXES = [".nii", ".nii.gz", ".mgz", ".mgh", ".dcm", ".dicom"];
const scan = {
  meta: null,      // the stored scan (GET /api/volumes/{id})
  result: null,    // the last segmentation (classes and their volumes)
  params: null,    // the parameters it was made with (its slices are asked with them)
  seq: 0,          // number of the latest segment request
  sliceSeq: 0,     // number of the latest slice shown
};
window.kmseg.scan = scan;

// A scan: several files (a series), a scan's suffix, or a DICOM file of any name (IM0001, a
// UID), told by the "DICM" marker after its 128-byte preamble.
async function isScan(files) {
  if (files.length > 1) return true;
  const name = files[0].name.toLowerCase();
  if (SCAN_SUFFIXES.some((suffix) => name.endsWith(suffix))) return true;
  return (await files[0].slice(128, 132).text()) === "DICM";
}

// No scan any more: its answers still on their way are dropped.
function forgetScan() {
  scan.meta = scan.result = scan.params = null;
  scan.seq++; scan.sliceSeq++;
}

// Image or scan: which controls show (CSS, by body[data-mode]) and the k slider's range.
// Callers have run startOpening, which dropped what was asked of the previous file.
function setMode(mode) {
  if (document.body.dataset.mode === mode) return;
  document.body.dataset.mode = mode;
  const range = state.options[mode === "scan" ? "volume_k" : "k"];
  const k = $("k");
  k.min = range.min; k.max = range.max; k.value = range.default;
  $("k-value").textContent = k.value;
  for (const canvas of document.querySelectorAll("#stage canvas")) canvas.style.aspectRatio = "";
}

function scanParams() {
  const params = { k: Number($("k").value), nonzero: $("nonzero").checked,
                   tissue: $("tissue").checked, seed: Number($("seed").value) || 0 };
  if ($("window").value) params.window = $("window").value;
  return params;
}

function fillScanControls(options) {
  $("window").append(...options.windows.map((name) => new Option(`CT ${name}`, name)));
  $("planes").append(...options.views.map((view, i) => {
    const label = document.createElement("label");
    const radio = Object.assign(document.createElement("input"),
                                { type: "radio", name: "plane", value: view, checked: i === 0 });
    radio.addEventListener("change", choosePlane);
    label.append(radio, ` ${view}`);
    return label;
  }));
  if (!options.tissue) {
    $("tissue").disabled = true;
    $("tissue-label").title = "needs the 'med' extra: pip install SimpleITK";
  }
}

async function openScan(files) {
  if (!(await optionsLoaded)) return;
  const form = new FormData();
  for (const file of files) form.append("files", file, file.webkitRelativePath || file.name);
  const name = files.length > 1 ? `a series of ${files.length} files` : files[0].name;
  // Answers to what was asked before (of an image or of another scan) are dropped from now.
  const opening = startOpening(name);
  $("status").textContent = "reading the scan…";
  try {
    const meta = await (await api("/api/volumes", { method: "POST", body: form })).json();
    if (opening !== state.openSeq) return;
    setMode("scan");
    scan.meta = meta;
    setInfo(`${meta.name}: ${meta.description}`, meta.id);
    document.querySelector("#scan-downloads [data-what=dicom-seg]").hidden = !meta.dicom;
    choosePlane(false);
    await segmentScan();
  } catch (error) {
    if (opening !== state.openSeq) return;
    $("status").textContent = "";
    setInfo("", "");
    showError(error.message);
  }
}

function plane() {
  const view = document.querySelector("input[name=plane]:checked").value;
  return scan.meta.views.find((entry) => entry.view === view);
}

// A new plane: the slider runs through its slices, from the middle one.
function choosePlane(show = true) {
  if (!scan.meta) return;
  const slider = $("slice");
  const slices = plane().slices;
  slider.max = slices - 1;
  slider.value = Math.floor(slices / 2);
  if (show) showSlice();
}

async function segmentScan() {
  if (!scan.meta) return;
  if (!checkedNumber("seed")) return;
  const seq = ++scan.seq;
  const params = scanParams();
  $("status").textContent = params.tissue ? "segmenting (tissue preset)…" : "segmenting…";
  try {
    const response = await api(`/api/volumes/${scan.meta.id}/segment`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(params),
    });
    const result = await response.json();
    if (seq !== scan.seq) return;
    scan.result = result;
    scan.params = params;
    if (state.selected !== null && state.selected > result.k) state.selected = null;
    const total = result.classes.reduce((sum, c) => sum + c.volume_ml, 0);
    $("scan-total").textContent =
      `${total.toFixed(1)} mL clustered in ${result.seconds.toFixed(2)} s` +
      (result.bias_corrected ? " (bias-corrected)" : "");
    clearErrors();
    await showSlice();
  } catch (error) {
    if (seq === scan.seq) { $("status").textContent = ""; showError(error.message, error.field); }
  }
}

// The slider's slice of the scan and of the last segmentation's labels (asked with its own
// parameters: cached on the server, never waiting for a segmentation still running); the
// latest wins.
async function showSlice() {
  if (!scan.meta || !scan.result) return;
  const seq = ++scan.sliceSeq;
  const view = plane();
  const index = Number($("slice").value);
  $("slice-value").textContent = `${index + 1} / ${view.slices}`;
  const base = `/api/volumes/${scan.meta.id}/${view.view}/${index}`;
  const params = scan.params;
  const windowQuery = params.window ? `?window=${encodeURIComponent(params.window)}` : "";
  const labelsQuery = new URLSearchParams(params).toString();
  let gray, labelled;
  try {
    [gray, labelled] = await Promise.all([loadBitmap(`${base}/scan.png${windowQuery}`),
                                          loadBitmap(`${base}/labels.png?${labelsQuery}`)]);
  } catch (error) {
    if (seq === scan.sliceSeq) showError(`slice ${index + 1} could not be shown`);
    return;
  }
  if (seq !== scan.sliceSeq) return;
  showError("");                       // an earlier slice's failure is over
  const { width, height } = view;
  const pixels = imageData(labelled, width, height).data;
  const labels = new Uint8Array(width * height);
  for (let i = 0; i < labels.length; i++) labels[i] = pixels[4 * i];
  const result = scan.result;
  const voxels = result.classes.reduce((sum, c) => sum + c.voxels, 0);
  state.original = imageData(gray, width, height);
  state.labels = labels;
  state.result = {
    k: result.k, width, height, masked_label: 0, imageId: scan.meta.id,
    palette: result.classes.map((c) => ({
      label: c.label, hex: c.hex, share: c.voxels / voxels,
      text: `${c.label}: ${c.volume_ml.toFixed(1)} mL` })),
  };
  render();
  renderPalette();
  // Voxels need not be square: each pixel drawn at its size in millimetres.
  for (const canvas of document.querySelectorAll("#stage canvas")) {
    canvas.style.aspectRatio = `${width * view.column_mm} / ${height * view.row_mm}`;
  }
  const [left, right, top] = view.edges;
  $("status").textContent = `${view.view} · left ${left}, right ${right}, top ${top}`;
  document.body.dataset.shownSlice = `${view.view}:${index}`;
}

function downloadScan(what) {
  if (!scan.meta || !scan.params) return;
  return downloadExport(`/api/volumes/${scan.meta.id}/export`,
                        { ...scan.params, what, label: state.selected ?? 1 }, what);
}

optionsLoaded.then((loaded) => { if (loaded) fillScanControls(state.options); });
$("slice").addEventListener("input", showSlice);
for (const id of ["window", "nonzero", "tissue"]) $(id).addEventListener("change", segmentScan);
for (const button of document.querySelectorAll("#scan-downloads button")) {
  button.addEventListener("click", () => downloadScan(button.dataset.what));
}
