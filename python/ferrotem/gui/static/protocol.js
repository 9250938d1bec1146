// The wire format (see ferrotem/gui/protocol.py): u32 little-endian header length, the JSON
// header padded to 8 bytes, then the array's bytes (C order, little endian).
const TYPED = {
  uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  uint32: Uint32Array, int32: Int32Array, float32: Float32Array, float64: Float64Array,
};

export function decodeFrame(buffer) {
  const n = new DataView(buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, n)));
  const Typed = TYPED[header.dtype];
  const count = header.shape.reduce((a, b) => a * b, 1);
  return { header, data: new Typed(buffer, 4 + n, count) };
}

// A websocket with request ids: send() returns a promise of the matching reply; binary frames
// and replies without an id go to onFrame / onMessage.
export class Connection {
  constructor(url, { onFrame, onMessage, onStatus }) {
    this.pending = new Map();
    this.nextId = 1;
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.opened = new Promise((resolve) => this.ws.addEventListener("open", resolve));
    this.ws.addEventListener("open", () => onStatus("connected"));
    this.ws.addEventListener("close", () => onStatus("disconnected"));
    this.ws.addEventListener("message", (event) => {
      if (event.data instanceof ArrayBuffer) { onFrame(decodeFrame(event.data)); return; }
      const msg = JSON.parse(event.data);
      const waiter = this.pending.get(msg.id);
      if (waiter && msg.type !== "run_started") { this.pending.delete(msg.id); waiter(msg); }
      else onMessage(msg);
    });
  }

  async send(request) {
    await this.opened;
    const id = this.nextId++;
    const reply = new Promise((resolve) => this.pending.set(id, resolve));
    this.ws.send(JSON.stringify({ ...request, id }));
    return reply;
  }

  post(request) { this.opened.then(() => this.ws.send(JSON.stringify(request))); }
}
