import { writeFully, type FileIO } from '../log/file-io.js';

/** Sequential writes in 4 MiB runs, so compaction does not pay a syscall per record. */
export class BufferedWriter {
  private buf = new Uint8Array(4 << 20);
  private len = 0;
  private start = 0;

  constructor(
    private readonly io: FileIO,
    private readonly fd: number,
  ) {}

  write(bytes: Uint8Array, position: number): void {
    if (this.len > 0 && (position !== this.start + this.len || this.len + bytes.length > this.buf.length)) this.flush();
    if (this.len === 0) this.start = position;
    if (bytes.length > this.buf.length) {
      writeFully(this.io, this.fd, bytes, 0, bytes.length, position);
      return;
    }
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  flush(): void {
    if (this.len > 0) writeFully(this.io, this.fd, this.buf, 0, this.len, this.start);
    this.len = 0;
  }
}
