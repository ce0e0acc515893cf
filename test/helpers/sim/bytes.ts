/** A growable byte string: the contents of one simulated file. */
export class Bytes {
  buf: Uint8Array;
  len: number;

  constructor(src: Uint8Array = new Uint8Array(0)) {
    this.buf = new Uint8Array(Math.max(src.length, 64));
    this.buf.set(src);
    this.len = src.length;
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  clone(): Bytes {
    return new Bytes(this.view());
  }

  /** Writes `src` at `pos`; a gap past the old end reads as zeros (a sparse hole). */
  write(pos: number, src: Uint8Array): void {
    this.reserve(pos + src.length);
    this.buf.set(src, pos);
    this.len = Math.max(this.len, pos + src.length);
  }

  truncate(len: number): void {
    if (len < this.len) this.buf.fill(0, len, this.len);
    else this.reserve(len);
    this.len = len;
  }

  /** Byte at `pos`, 0 past the end (what a hole or an unwritten extension reads as). */
  at(pos: number): number {
    return pos < this.len ? this.buf[pos]! : 0;
  }

  private reserve(n: number): void {
    if (n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(n, this.buf.length * 2));
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
  }
}

/** An operation on a file's contents, kept until the file's next fdatasync. */
export type FileOp = { t: 'write'; pos: number; bytes: Uint8Array } | { t: 'truncate'; len: number };

export function applyOp(b: Bytes, op: FileOp): void {
  if (op.t === 'write') b.write(op.pos, op.bytes);
  else b.truncate(op.len);
}
