// Downloads: once an analysis has finished, links to its result as .npz / HDF5 (every
// channel), TIFF / PNG (one channel each) and a notebook that reproduces it. The links name
// this tab's session id (asked for once); the server finds the tab's results by it.

const IMAGE_FORMATS = ["tiff", "png"];

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  a.download = "";
  return a;
}

// Fills `container` with one line of links per finished analysis, refreshed after each run.
export function installDownloads(conn, container) {
  let session = null;
  const enc = encodeURIComponent;

  async function refresh() {
    if (session === null) session = (await conn.send({ type: "session" })).session;
    const reply = await conn.send({ type: "list_results" });
    if (reply.type !== "results") return;
    container.replaceChildren();
    for (const result of reply.results) {
      const base = `${enc(session)}/${enc(result.analysis_id)}`;
      const line = document.createElement("p");
      line.className = "download";
      line.dataset.analysis = result.analysis_id;
      line.append(`${result.analysis_id} (${result.kind}): `,
        link(`download/${base}.npz`, "npz"), " ", link(`download/${base}.h5`, "HDF5"), " ",
        link(`notebook/${base}.ipynb`, "notebook"));
      for (const channel of result.channels) {
        const suffix = result.channels.length > 1 ? ` ${channel}` : "";
        for (const fmt of IMAGE_FORMATS) {
          line.append(" ", link(`download/${base}.${fmt}?channel=${enc(channel)}`, fmt + suffix));
        }
      }
      container.append(line);
    }
  }

  conn.ws.addEventListener("message", (event) => {
    if (typeof event.data !== "string") return;
    if (JSON.parse(event.data).type === "run_finished") refresh();
  });
  conn.opened.then(refresh);
}
