/**
 * The smallest FileIO that holds one database file in memory, for sweeps that
 * open thousands of images with the writer engine (the corruption matrix):
 * no syscalls, no page cache, and the file's bytes are inspectable after open
 * (was residue cut? was anything written?). Writes and truncates apply at once;
 * durability is not modelled here (test/sim does that).
 */
import type { FileIO } from '../../dist/src/log/file-io.js';
import { createControlBlock } from '../../dist/src/shm/shared-view.js';
import { WriterEngine } from '../../dist/src/writer/engine.js';

export const MEMORY_DB = '/memory/db.emdb';
const FD = 3;

export class MemoryFile implements FileIO {
  bytes: Buffer = Buffer.alloc(0);
  /** Mutating calls since the last load (a refused open must make none). */
  writes = 0;

  load(bytes: Uint8Array): void {
    this.bytes = Buffer.from(bytes);
    this.writes = 0;
  }

  open(file: string): number {
    if (file !== MEMORY_DB) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
    return FD;
  }
  close(): void {}
  size(): number {
    return this.bytes.length;
  }
  read(_fd: number, buf: Uint8Array, bufOffset: number, len: number, position: number): number {
    const n = Math.max(0, Math.min(len, this.bytes.length - position));
    buf.set(this.bytes.subarray(position, position + n), bufOffset);
    return n;
  }
  write(_fd: number, buf: Uint8Array, bufOffset: number, len: number, position: number): number {
    this.writes++;
    if (position + len > this.bytes.length) this.bytes = Buffer.concat([this.bytes, Buffer.alloc(position + len - this.bytes.length)]);
    this.bytes.set(buf.subarray(bufOffset, bufOffset + len), position);
    return len;
  }
  fdatasync(): void {}
  ftruncate(_fd: number, len: number): void {
    this.writes++;
    this.bytes = len <= this.bytes.length ? this.bytes.subarray(0, len) : Buffer.concat([this.bytes, Buffer.alloc(len - this.bytes.length)]);
  }
  rename(): void {
    throw new Error('MemoryFile holds one file');
  }
  unlink(): void {
    throw new Error('MemoryFile holds one file');
  }
  fsyncDir(): void {}
  exists(file: string): boolean {
    return file === MEMORY_DB;
  }
  isDirectory(): boolean {
    return false;
  }
  mkdirp(): void {}
}

/** Opens the engine on `io` (not closed afterwards: close would checkpoint, and the sweep only reads). */
export function openInMemory(io: FileIO): WriterEngine {
  const engine = new WriterEngine({ path: MEMORY_DB, flushPolicy: { kind: 'onEachFlush' }, io, control: createControlBlock(), publish: () => undefined });
  engine.open();
  return engine;
}
