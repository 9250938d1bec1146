// The page: browse files, open one, run an analysis, watch the scan image fill in.
import { Connection } from "./protocol.js";
import { drawImage } from "./render.js";
import { installDownloads } from "./downloads.js";
import { installBookmarks, installResources } from "./resources.js";

const $ = (id) => document.getElementById(id);
const FILETYPES = ["auto", "raw", "mib", "hdf5", "npy", "blo", "seq", "frms6", "arina"];
const ANALYSIS_PARAMS = { ring: ["cx", "cy", "ri", "ro"], disk: ["cx", "cy", "r"], point: ["cx", "cy"], sum: [] };
let dataset = null;   // the open dataset's id and shapes
let currentRun = 0;   // frames of older runs are ignored

const token = new URLSearchParams(location.search).get("token");
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws` +
  (token ? `?token=${encodeURIComponent(token)}` : "");
const conn = new Connection(wsUrl, {
  onStatus: (s) => { $("status").textContent = s; },
  onFrame: showFrame,
  onMessage: (msg) => {
    if (msg.type === "run_started") currentRun = msg.run;
    if (msg.type === "error") $("run-error").textContent = msg.message;
  },
});

// -- files ---------------------------------------------------------------------------------
async function listDir(path) {
  const reply = await conn.send({ type: "list_dir", path });
  if (reply.type === "error") { $("open-error").textContent = reply.message; return; }
  $("cwd").textContent = "/" + reply.path;
  const ul = $("entries");
  ul.replaceChildren();
  const entries = reply.parent === null ? reply.entries : [{ name: "..", kind: "dir", up: true }, ...reply.entries];
  for (const entry of entries) {
    const li = document.createElement("li");
    li.textContent = entry.name;
    li.className = entry.kind;
    const target = entry.up ? reply.parent : (reply.path ? reply.path + "/" : "") + entry.name;
    li.addEventListener("click", () => (entry.kind === "dir" ? listDir(target) : detect(target)));
    ul.append(li);
  }
}

async function detect(path) {
  const reply = await conn.send({ type: "detect", path });
  if (reply.type === "error") { $("open-error").textContent = reply.message; return; }
  $("open-error").textContent = reply.filetype ? "" : reply.message + " — choose the format and fill in the parameters";
  $("filetype").value = reply.filetype ?? "raw";
  const params = reply.filetype ? reply.parameters
    : { path, nav_shape: null, sig_shape: null, dtype: "float32" };
  showParams(params);
  $("open-button").disabled = false;
}

function showParams(params) {
  const div = $("params");
  div.replaceChildren();
  for (const [name, value] of Object.entries(params)) {
    const label = document.createElement("label");
    label.textContent = name + " ";
    const input = document.createElement("input");
    input.name = name;
    input.value = typeof value === "string" ? value : JSON.stringify(value);
    const err = document.createElement("span");
    err.className = "field-error";
    err.dataset.param = name;
    label.append(input, err);
    div.append(label);
  }
}

function readParams() {
  const out = {};
  for (const input of $("params").querySelectorAll("input")) {
    if (input.value === "" || input.value === "null") continue;
    try { out[input.name] = JSON.parse(input.value); } catch { out[input.name] = input.value; }
  }
  return out;
}

$("open-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  for (const e of document.querySelectorAll(".field-error")) e.textContent = "";
  $("open-error").textContent = "";
  const reply = await conn.send({ type: "open", filetype: $("filetype").value, parameters: readParams() });
  if (reply.type === "error") {
    const field = reply.param && document.querySelector(`.field-error[data-param="${reply.param}"]`);
    (field || $("open-error")).textContent = reply.message;
    return;
  }
  dataset = reply;
  $("ds-info").textContent = `${reply.filetype}: scan ${reply.nav_shape.join("×")}, frame ${reply.sig_shape.join("×")}, ${reply.dtype}`;
  showAnalysisParams();
  $("apply").disabled = false;
});

// -- analyses ------------------------------------------------------------------------------
function showAnalysisParams() {
  const kind = $("analysis-type").value;
  const [fy, fx] = dataset ? dataset.sig_shape : [0, 0];
  const defaults = { cx: fx / 2, cy: fy / 2, ro: Math.min(fy, fx) / 2, ri: Math.min(fy, fx) / 4, r: Math.min(fy, fx) / 8 };
  const div = $("analysis-params");
  div.replaceChildren();
  for (const name of ANALYSIS_PARAMS[kind]) {
    const label = document.createElement("label");
    label.textContent = name + " ";
    const input = document.createElement("input");
    input.type = "number"; input.step = "any"; input.name = name; input.value = defaults[name];
    label.append(input);
    div.append(label);
  }
}
$("analysis-type").addEventListener("change", showAnalysisParams);

$("run-form").addEventListener("submit", (event) => {
  event.preventDefault();
  $("run-error").textContent = "";
  const parameters = {};
  for (const input of $("analysis-params").querySelectorAll("input")) parameters[input.name] = Number(input.value);
  conn.post({ type: "run", dataset: dataset.dataset, analysis_id: "main",
              analysis: { type: $("analysis-type").value, parameters } });
});

function showFrame({ header, data }) {
  if (header.run !== currentRun) return;
  const [height, width] = header.shape.length === 2 ? header.shape : [1, header.shape[0]];
  const [lo, hi] = drawImage($("result"), data, height, width);
  $("progress").value = header.progress;
  $("range").textContent = `${header.kind}: ${lo.toPrecision(4)} … ${hi.toPrecision(4)}${header.final ? "" : " (partial)"}`;
}

// -- start -----------------------------------------------------------------------------------
installDownloads(conn, $("downloads"));
installResources(conn, $("resources"));
installBookmarks(conn, $("bookmarks"), listDir, () => $("cwd").textContent.replace(/^\//, ""));
for (const t of FILETYPES) $("filetype").append(new Option(t, t));
listDir("");
const open = new URLSearchParams(location.hash.slice(1)).get("open");
if (open) detect(open);
