// Compute resources (the embedded executor, or a Dask scheduler by address) and the file
// browser's bookmarks. Errors are shown next to the field they are about.

function element(tag, props = {}, ...children) {
  const el = Object.assign(document.createElement(tag), props);
  el.append(...children);
  return el;
}

function describe(reply) {
  const where = reply.kind === "dask" ? `Dask scheduler ${reply.address}` : "embedded";
  return `${where}, ${reply.workers ?? "?"} workers`;
}

// A form in `container`: embedded or Dask (with the scheduler's address), and a "Use" button.
export function installResources(conn, container) {
  const shown = element("p", { id: "resources-current" });
  const kind = element("select", { id: "resources-kind" },
    new Option("embedded", "embedded"), new Option("Dask scheduler", "dask"));
  const address = element("input", { id: "resources-address", placeholder: "tcp://127.0.0.1:8786" });
  const error = element("span", { className: "field-error", id: "resources-error" });
  const use = element("button", { type: "submit", id: "resources-use" }, "Use");
  const form = element("form", { id: "resources-form" }, kind, " ", address, " ", use, error);
  container.replaceChildren(shown, form);
  const show = (reply) => {
    if (reply.type === "error") { error.textContent = reply.message; return; }
    error.textContent = "";
    shown.textContent = describe(reply);
    kind.value = reply.kind;
    if (reply.address) address.value = reply.address;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "connecting…";
    const request = { type: "set_resources", kind: kind.value };
    if (kind.value === "dask") request.address = address.value.trim();
    show(await conn.send(request));
  });
  conn.send({ type: "get_resources" }).then(show);
  // another tab changed them: the server tells every tab
  conn.ws.addEventListener("message", (event) => {
    if (typeof event.data !== "string") return;
    const msg = JSON.parse(event.data);
    if (msg.type === "resources" && msg.id === undefined) show(msg);
  });
}

// Bookmarks beside the file list: click one to go there, "★" bookmarks the directory shown,
// "×" removes one. `navigate(path)` lists a directory; `currentPath()` is the one shown.
export function installBookmarks(conn, container, navigate, currentPath) {
  const list = element("ul", { id: "bookmark-list" });
  const add = element("button", { type: "button", id: "bookmark-add", title: "bookmark this directory" }, "★ bookmark");
  const error = element("span", { className: "field-error", id: "bookmark-error" });
  container.replaceChildren(list, add, error);
  const show = (reply) => {
    if (reply.type === "error") { error.textContent = reply.message; return; }
    error.textContent = "";
    list.replaceChildren(...reply.bookmarks.map((b) => {
      const go = element("a", { href: "#", className: "bookmark", title: "/" + b.path }, b.name);
      go.dataset.path = b.path;
      go.addEventListener("click", (event) => { event.preventDefault(); navigate(b.path); });
      const remove = element("button", { type: "button", title: "remove this bookmark" }, "×");
      remove.addEventListener("click", async () => show(await conn.send({ type: "remove_bookmark", path: b.path })));
      return element("li", {}, go, " ", remove);
    }));
  };
  add.addEventListener("click", async () => show(await conn.send({ type: "add_bookmark", path: currentPath() })));
  conn.send({ type: "list_bookmarks" }).then(show);
}
