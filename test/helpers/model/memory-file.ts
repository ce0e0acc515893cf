/**
 * The smallest FileIO that holds one database file in memory, for sweeps that
 * open thousands of images with the writer engine (the corruption matrix):
 * no syscalls, no page cache, and the file's bytes are inspectable after open
 * (was residue cut? was anything written?). Writes and truncates apply at once;
 * durability is not modelled here (test/sim does that). Side files (the index
 * snapshot a checkpoint writes) live beside it until the next load.
 */
import type { FileIO } from '../../../dist/src/log/file-io.js';
import { createControlBlock } from '../../../dist/src/shm/shared-view.js';
import { WriterEngine } from '../../../dist/src/writer/engine.js';

export const MEMORY_DB = '/memory/db.emdb';
const FD = 3;

export class MemoryFile implements FileIO {
  bytes: Buffer = Buffer.alloc(0);
  /** Mutating calls since the last load (a refused open must make none). */
  writes = 0;
  /** Files the engine keeps beside the database (the index snapshot and its temp file), by path. */
  private readonly side = new Map<string, Buffer>();
  private readonly sideFds = new Map<number, string>();
  private nextFd = FD + 1;

  /** The database file holds `bytes`; no side file exists. */
  load(bytes: Uint8Array): void {
    this.bytes = Buffer.from(bytes);
    this.side.clear();
    this.writes = 0;
  }

  open(file: string, flags: 'r' | 'r+' | 'wx' | 'r+dsync'): number {
    if (file === MEMORY_DB) return FD;
    if (flags === 'wx') this.side.set(file, Buffer.alloc(0));
    if (!this.side.has(file)) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT' });
    const fd = this.nextFd++;
    this.sideFds.set(fd, file);
    return fd;
  }
  close(fd: number): void {
    this.sideFds.delete(fd);
  }
  size(fd: number): number {
    return this.content(fd).length;
  }
  read(fd: number, buf: Uint8Array, bufOffset: number, len: number, position: number): number {
    const bytes = this.content(fd);
    const n = Math.max(0, Math.min(len, bytes.length - position));
    buf.set(bytes.subarray(position, position + n), bufOffset);
    return n;
  }
  write(fd: number, buf: Uint8Array, bufOffset: number, len: number, position: number): number {
    this.writes++;
    let bytes = this.content(fd);
    if (position + len > bytes.length) bytes = Buffer.concat([bytes, Buffer.alloc(position + len - bytes.length)]);
    bytes.set(buf.subarray(bufOffset, bufOffset + len), position);
    this.store(fd, bytes);
    return len;
  }
  fdatasync(): void {}
  ftruncate(fd: number, len: number): void {
    this.writes++;
    const bytes = this.content(fd);
    this.store(fd, len <= bytes.length ? bytes.subarray(0, len) : Buffer.concat([bytes, Buffer.alloc(len - bytes.length)]));
  }
  rename(from: string, to: string): void {
    const bytes = this.side.get(from);
    if (!bytes || to === MEMORY_DB) throw new Error('MemoryFile renames only side files');
    this.writes++;
    this.side.delete(from);
    this.side.set(to, bytes);
  }
  unlink(file: string): void {
    if (!this.side.delete(file)) throw new Error('MemoryFile unlinks only side files');
    this.writes++;
  }
  fsyncDir(): void {}
  exists(file: string): boolean {
    return file === MEMORY_DB || this.side.has(file);
  }
  isDirectory(): boolean {
    return false;
  }
  mkdirp(): void {}

  private content(fd: number): Buffer {
    if (fd === FD) return this.bytes;
    const file = this.sideFds.get(fd);
    const bytes = file === undefined ? undefined : this.side.get(file);
    if (!bytes) throw Object.assign(new Error(`EBADF: ${fd}`), { code: 'EBADF' });
    return bytes;
  }

  private store(fd: number, bytes: Buffer): void {
    if (fd === FD) this.bytes = bytes;
    else this.side.set(this.sideFds.get(fd)!, bytes);
  }
}

/** Opens the engine on `io` (not closed afterwards: close would checkpoint, and the sweep only reads). */
export function openInMemory(io: FileIO): WriterEngine {
  const engine = new WriterEngine({ path: MEMORY_DB, flushPolicy: { kind: 'onEachFlush' }, io, control: createControlBlock(), publish: () => undefined });
  engine.open();
  return engine;
}
