/**
 * Cuts the in-order stream into messages: u32 big-endian length, then that many bytes. A message that
 * arrives in one piece is delivered as a view of it; otherwise its pieces are joined once complete.
 */
import { MAX_MESSAGE } from "./flow-control.js";

export class MessageAssembler {
  private readonly prefix = new Uint8Array(4);
  private prefixHave = 0;
  /** Length of the message being assembled, -1 while reading its prefix. */
  private expected = -1;
  private parts: Uint8Array[] = [];
  private have = 0;

  constructor(private readonly deliver: (msg: Uint8Array) => void) {}

  /**
   * Consumes the next in-order stream bytes. Returns false on a length prefix above MAX_MESSAGE: the
   * stream cannot be resynchronised after that, so the caller must close the connection.
   */
  push(data: Uint8Array): boolean {
    let at = 0;
    while (at < data.length) {
      if (this.expected < 0) {
        const n = Math.min(4 - this.prefixHave, data.length - at);
        this.prefix.set(data.subarray(at, at + n), this.prefixHave);
        this.prefixHave += n;
        at += n;
        if (this.prefixHave < 4) return true;
        this.prefixHave = 0;
        const length = new DataView(this.prefix.buffer).getUint32(0);
        if (length > MAX_MESSAGE) return false;
        this.expected = length;
        if (length === 0) this.finish(new Uint8Array(0));
        continue;
      }
      const n = Math.min(this.expected - this.have, data.length - at);
      const piece = data.subarray(at, at + n);
      at += n;
      if (this.have === 0 && n === this.expected) {
        this.finish(piece);
        continue;
      }
      this.parts.push(piece);
      this.have += n;
      if (this.have === this.expected) this.finish(Buffer.concat(this.parts, this.have));
    }
    return true;
  }

  private finish(msg: Uint8Array): void {
    this.expected = -1;
    this.parts = [];
    this.have = 0;
    this.deliver(msg);
  }
}
