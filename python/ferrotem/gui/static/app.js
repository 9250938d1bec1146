// The page: browse files, open one, add analyses (cards.js), watch their images fill in.
import { Connection } from "./protocol.js";
import { Card, KINDS } from "./cards.js";
import { installDownloads } from "./downloads.js";
import { installBookmarks, installResources } from "./resources.js";

const $ = (id) => document.getElementById(id);
const FILETYPES = ["auto", "raw", "mib", "hdf5", "npy", "blo", "seq", "frms6", "arina"];
// parameters offered for every format besides the detected ones (empty: the format's default)
const ALWAYS_OFFERED = ["nav_shape", "num_partitions"];
let dataset = null;          // the open dataset ("opened" reply)
const cards = new Map();     // card id -> Card
// per analysis id: the newest run sequence number sent, and the server's run number for it
const sentSeq = new Map();
const acceptedRun = new Map();

const token = new URLSearchParams(location.search).get("token");
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws` +
  (token ? `?token=${encodeURIComponent(token)}` : "");
const conn = new Connection(wsUrl, {
  onStatus: (s) => { $("status").textContent = s; },
  onFrame: routeFrame,
  onMessage: routeMessage,
});

// Run ids look like "run:<analysis id>:<seq>": the replies to a run name the card and tell
// whether the run is still the newest one asked for.
function sendRun(analysisId, type, parameters, seq) {
  sentSeq.set(analysisId, seq);
  acceptedRun.delete(analysisId);   // frames of older runs are ignored from now on
  conn.post({ type: "run", id: `run:${analysisId}:${seq}`, dataset: dataset.dataset,
              analysis_id: analysisId, analysis: { type, parameters } });
}

function cardOf(analysisId) {
  const [id, role = "main"] = analysisId.split("-");
  return [cards.get(id), role];
}

function routeMessage(msg) {
  const m = typeof msg.id === "string" && msg.id.match(/^run:(.+):(\d+)$/);
  if (!m) { if (msg.type === "error") $("status").textContent = msg.message; return; }
  const [analysisId, seq] = [m[1], Number(m[2])];
  if (sentSeq.get(analysisId) !== seq) return;   // about a run already replaced
  if (msg.type === "run_started") acceptedRun.set(analysisId, msg.run);
  else if (msg.type === "error") {
    const [card, role] = cardOf(analysisId);
    card?.onError(role, msg.message, msg.param);
  }
}

function routeFrame({ header, data }) {
  if (acceptedRun.get(header.analysis) !== header.run) return;
  const [card, role] = cardOf(header.analysis);
  card?.onFrame(role, header, data);
}

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

// Returns whether the file's format was recognised (its parameters are then filled in).
async function detect(path) {
  const reply = await conn.send({ type: "detect", path });
  if (reply.type === "error") { $("open-error").textContent = reply.message; return false; }
  $("open-error").textContent = reply.filetype ? "" : reply.message + " — choose the format and fill in the parameters";
  $("filetype").value = reply.filetype ?? "raw";
  const params = reply.filetype ? reply.parameters
    : { path, nav_shape: null, sig_shape: null, dtype: "float32" };
  for (const name of ALWAYS_OFFERED) if (!(name in params)) params[name] = null;
  showParams(params);
  $("open-button").disabled = false;
  return Boolean(reply.filetype);
}

function showParams(params) {
  const div = $("params");
  div.replaceChildren();
  for (const [name, value] of Object.entries(params)) {
    const label = document.createElement("label");
    label.textContent = name + " ";
    const input = document.createElement("input");
    input.name = name;
    input.value = typeof value === "string" ? value : value === null ? "" : JSON.stringify(value);
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
  for (const card of cards.values()) card.remove();
  $("add-analysis").disabled = false;
});

// -- analyses ------------------------------------------------------------------------------
function addAnalysis(kind) {
  const card = new Card(kind, dataset, sendRun);
  card.onRemove = () => {
    cards.delete(card.id);
    for (const role of ["", "-frame", "-scan"]) conn.post({ type: "cancel", analysis_id: card.id + role });
  };
  cards.set(card.id, card);
  $("cards").prepend(card.root);
  card.start();
  return card;
}

$("add-form").addEventListener("submit", (event) => {
  event.preventDefault();
  addAnalysis($("analysis-type").value);
});

// -- start -----------------------------------------------------------------------------------
installDownloads(conn, $("downloads"));
installResources(conn, $("resources"));
installBookmarks(conn, $("bookmarks"), listDir, () => $("cwd").textContent.replace(/^\//, ""));
for (const t of FILETYPES) $("filetype").append(new Option(t, t));
for (const [kind, label] of Object.entries(KINDS)) $("analysis-type").append(new Option(label, kind));
listDir("");
const open = new URLSearchParams(location.hash.slice(1)).get("open");
// `ferrotem server --open-ds`: a file whose format is recognised opens at once; one that
// needs parameters (raw) waits for them and Open
if (open) detect(open).then((found) => { if (found) $("open-form").requestSubmit(); });
// for the browser tests and the console: the page's state
window.ferrotemGui = { cards, addAnalysis };
