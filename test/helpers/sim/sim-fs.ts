/**
 * A deterministic in-memory file system behind the engine's FileIO seam, with
 * power-loss images and fault injection.
 *
 * Per file it keeps the durable bytes, the live bytes (what reads see: the page
 * cache) and the writes/truncates issued since the file's last fdatasync; per
 * directory the durable entries, the live entries and the create/rename/unlink
 * operations since the directory's last fsync. A descriptor opened 'r+dsync'
 * makes each write durable when it returns. `crash()` builds the image a power
 * loss leaves (see crash-image.ts for the per-file modes): directory operations
 * since the last directory fsync are reverted, except that in `keepPrefix` mode a
 * random prefix of them survives (an ordered metadata journal that committed part
 * of its log on its own).
 *
 * Every mutating call (open for write or create, write, fdatasync, ftruncate,
 * rename, unlink, fsyncDir, mkdirp) is counted; `cutAt` stops the machine at the
 * cut-th one ("power cut"), after which every call throws PowerCut. The cut call
 * does not complete; if it is a write, it was in flight: its bytes join the
 * unsynced writes (also on an O_DSYNC descriptor), so any part may survive.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { FileIO } from '../../../dist/src/log/file-io.js';
import { rng } from '../rng.js';
import { applyOp, Bytes, type FileOp } from './bytes.js';
import { crashContent, randInt, type CrashMode } from './crash-image.js';
import { fsError, PowerCut } from './sim-errors.js';

export { overrideIO, PowerCut, withoutCompactTempSync } from './sim-errors.js';

export type FaultCode = 'EIO' | 'ENOSPC' | 'EROFS';

/**
 * The `at`-th mutating call fails with `code` (`persistent`: so does every later
 * one); 'short' makes that call, a write, store and report fewer bytes than asked;
 * 'syncFail' makes that call, an fdatasync, fail with EIO and drop the file's
 * unsynced data (Linux: the error is reported once, the dirty pages are
 * marked clean, a later fdatasync succeeds without writing them).
 */
export type Fault = { at: number; code: FaultCode; persistent: boolean } | { at: number; code: 'short' | 'syncFail' };

export type MutatingOp = 'open' | 'write' | 'fdatasync' | 'ftruncate' | 'rename' | 'unlink' | 'fsyncDir' | 'mkdirp';

interface FileNode {
  kind: 'file';
  live: Bytes;
  durable: Bytes;
  pending: FileOp[];
}

type DirOp = { t: 'link'; name: string; node: Node } | { t: 'unlink'; name: string } | { t: 'rename'; from: string; to: string };

interface DirNode {
  kind: 'dir';
  live: Map<string, Node>;
  durable: Map<string, Node>;
  pending: DirOp[];
}

type Node = FileNode | DirNode;

interface Descriptor {
  node: FileNode;
  /** The path it was opened by, for the call log (which file a write or sync hit). */
  file: string;
  writable: boolean;
  dsync: boolean;
}

export interface SimOptions {
  /** Cut the power before the cut-th mutating call (1-based). */
  cutAt?: number;
  faults?: Fault[];
  /** Seeds the length of short writes. */
  seed?: number;
}

export class SimFS implements FileIO {
  /** Mutating calls attempted so far (including the one that failed or was cut). */
  mutations = 0;
  /** One entry per mutating call, for reports: which op, and whether a fault fired. */
  readonly log: { op: MutatingOp; file: string; fault?: string }[] = [];
  /** Faults that fired (a persistent fault counts once, at its first call). */
  faultsFired = 0;
  dead = false;
  private readonly root: DirNode = newDir();
  private readonly fds = new Map<number, Descriptor>();
  private nextFd = 3;
  private persistent: FaultCode | undefined;
  private readonly random: () => number;

  constructor(private readonly opts: SimOptions = {}) {
    this.random = rng(opts.seed ?? 1);
  }

  // ---- FileIO ----

  open(file: string, flags: 'r' | 'r+' | 'wx' | 'r+dsync'): number {
    if (flags !== 'r') this.mutate('open', file);
    else this.alive();
    const { dir, name } = this.parent(file, 'open');
    let node = dir.live.get(name);
    if (flags === 'wx') {
      if (node) throw fsError('EEXIST', 'open', file);
      node = newFile();
      dir.live.set(name, node);
      dir.pending.push({ t: 'link', name, node });
    }
    if (!node) throw fsError('ENOENT', 'open', file);
    if (node.kind === 'dir') throw fsError('EISDIR', 'open', file);
    const fd = this.nextFd++;
    this.fds.set(fd, { node, file: path.resolve(file), writable: flags !== 'r', dsync: flags === 'r+dsync' });
    return fd;
  }

  close(fd: number): void {
    this.alive();
    if (!this.fds.delete(fd)) throw fsError('EBADF', 'close');
  }

  size(fd: number): number {
    return this.descriptor(fd, 'fstat').node.live.len;
  }

  read(fd: number, buf: Uint8Array, bufOffset: number, len: number, position: number): number {
    const live = this.descriptor(fd, 'read').node.live;
    const n = Math.max(0, Math.min(len, live.len - position));
    buf.set(live.buf.subarray(position, position + n), bufOffset);
    return n;
  }

  write(fd: number, buf: Uint8Array, bufOffset: number, len: number, position: number): number {
    if (this.mutations + 1 === this.opts.cutAt && this.fds.get(fd)?.writable) {
      // Power fails while this write is in flight: any part of it may reach the disk, none is acknowledged.
      this.fds.get(fd)!.node.pending.push({ t: 'write', pos: position, bytes: buf.slice(bufOffset, bufOffset + len) });
    }
    const fault = this.mutate('write', this.fileOf(fd));
    const d = this.descriptor(fd, 'write');
    if (!d.writable) throw fsError('EBADF', 'write');
    let n = len;
    if (fault === 'short' && len > 1) n = 1 + randInt(this.random, len - 1);
    // A copy: the engine reuses its buffers, the page cache does not.
    const op: FileOp = { t: 'write', pos: position, bytes: buf.slice(bufOffset, bufOffset + n) };
    d.node.live.write(position, op.bytes);
    if (d.dsync) {
      // O_DSYNC: this write (and, conservatively, what was queued before it) is on disk on return.
      this.syncFile(d.node);
      applyOp(d.node.durable, op);
    } else {
      d.node.pending.push(op);
    }
    return n;
  }

  fdatasync(fd: number): void {
    const fault = this.mutate('fdatasync', this.fileOf(fd));
    const d = this.descriptor(fd, 'fdatasync');
    if (fault === 'syncFail') {
      d.node.pending = [];
      throw fsError('EIO', 'fdatasync');
    }
    this.syncFile(d.node);
  }

  ftruncate(fd: number, len: number): void {
    this.mutate('ftruncate', this.fileOf(fd));
    const d = this.descriptor(fd, 'ftruncate');
    d.node.live.truncate(len);
    d.node.pending.push({ t: 'truncate', len });
  }

  rename(from: string, to: string): void {
    this.mutate('rename', `${from} -> ${to}`);
    const src = this.parent(from, 'rename');
    const dst = this.parent(to, 'rename');
    const node = src.dir.live.get(src.name);
    if (!node) throw fsError('ENOENT', 'rename', from);
    if (src.dir === dst.dir) {
      src.dir.live.delete(src.name);
      src.dir.live.set(dst.name, node);
      src.dir.pending.push({ t: 'rename', from: src.name, to: dst.name });
    } else {
      // Two directories, two journals: each half is durable with its own directory's fsync.
      dst.dir.live.set(dst.name, node);
      dst.dir.pending.push({ t: 'link', name: dst.name, node });
      src.dir.live.delete(src.name);
      src.dir.pending.push({ t: 'unlink', name: src.name });
    }
  }

  unlink(file: string): void {
    this.mutate('unlink', file);
    const { dir, name } = this.parent(file, 'unlink');
    const node = dir.live.get(name);
    if (!node) throw fsError('ENOENT', 'unlink', file);
    if (node.kind === 'dir') throw fsError('EISDIR', 'unlink', file);
    dir.live.delete(name);
    dir.pending.push({ t: 'unlink', name });
  }

  fsyncDir(dir: string): void {
    this.mutate('fsyncDir', dir);
    const node = this.lookup(dir);
    if (!node) throw fsError('ENOENT', 'open', dir);
    if (node.kind !== 'dir') throw fsError('ENOTDIR', 'fsync', dir);
    node.durable = new Map(node.live);
    node.pending = [];
  }

  exists(file: string): boolean {
    this.alive();
    return this.lookup(file) !== undefined;
  }

  isDirectory(file: string): boolean {
    this.alive();
    return this.lookup(file)?.kind === 'dir';
  }

  mkdirp(dir: string): void {
    this.mutate('mkdirp', dir);
    let at: DirNode = this.root;
    for (const name of parts(dir)) {
      let next = at.live.get(name);
      if (!next) {
        next = newDir();
        at.live.set(name, next);
        at.pending.push({ t: 'link', name, node: next });
      }
      if (next.kind !== 'dir') throw fsError('ENOTDIR', 'mkdir', dir);
      at = next;
    }
  }

  // ---- power loss ----

  /**
   * The file system a power loss at this instant leaves behind: a new SimFS
   * holding only what survived, all of it durable. Does not change this one.
   */
  crash(mode: CrashMode, seed: number): SimFS {
    const r = rng(seed);
    const image = new SimFS();
    const copied = new Map<Node, Node>();
    const copy = (node: Node): Node => {
      let done = copied.get(node);
      if (done) return done;
      if (node.kind === 'file') {
        const bytes = crashContent(node.durable, node.pending, mode, r);
        done = { kind: 'file', live: bytes, durable: bytes.clone(), pending: [] };
        copied.set(node, done);
        return done;
      }
      const entries = new Map(node.durable);
      const keep = mode === 'keepPrefix' ? randInt(r, node.pending.length + 1) : 0;
      for (const op of node.pending.slice(0, keep)) applyDirOp(entries, op);
      const dir = newDir();
      copied.set(node, dir);
      for (const [name, child] of entries) dir.live.set(name, copy(child));
      dir.durable = new Map(dir.live);
      return dir;
    };
    const root = copy(this.root) as DirNode;
    image.root.live = root.live;
    image.root.durable = root.durable;
    return image;
  }

  // ---- helpers for tests ----

  /** The bytes a read of `file` returns now (a copy), or undefined when absent. */
  readFile(file: string): Uint8Array | undefined {
    const node = this.lookup(file);
    return node?.kind === 'file' ? node.live.view().slice() : undefined;
  }

  /** The bytes of `file` that are on disk now (a copy). */
  durableFile(file: string): Uint8Array | undefined {
    const node = this.lookup(file);
    return node?.kind === 'file' ? node.durable.view().slice() : undefined;
  }

  /** Creates or replaces `file` (and its directories) with `bytes`, all durable at once. */
  writeFile(file: string, bytes: Uint8Array): void {
    let at: DirNode = this.root;
    for (const name of parts(path.dirname(path.resolve(file)))) {
      let next = at.live.get(name);
      if (!next) at.live.set(name, (next = newDir()));
      if (next.kind !== 'dir') throw fsError('ENOTDIR', 'mkdir', file);
      at.durable = new Map(at.live);
      at = next;
    }
    const content = new Bytes(bytes);
    at.live.set(path.basename(file), { kind: 'file', live: content, durable: content.clone(), pending: [] });
    at.durable = new Map(at.live);
  }

  /** Every file and directory with a digest of its contents: equal fingerprints, equal file systems. */
  fingerprint(): string {
    const out: string[] = [];
    const walk = (dir: DirNode, at: string): void => {
      for (const [name, node] of [...dir.live].sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (node.kind === 'dir') {
          out.push(`${at}/${name}/`);
          walk(node, `${at}/${name}`);
        } else {
          out.push(`${at}/${name}:${createHash('sha1').update(node.live.view()).digest('hex')}`);
        }
      }
    };
    walk(this.root, '');
    return out.join('\n');
  }

  /** Names in directory `dir` as reads see them. */
  list(dir: string): string[] {
    const node = this.lookup(dir);
    return node?.kind === 'dir' ? [...node.live.keys()].sort() : [];
  }

  /** Open descriptors (a leak check). */
  get openFds(): number {
    return this.fds.size;
  }

  // ---- internals ----

  private fileOf(fd: number): string {
    return this.fds.get(fd)?.file ?? `fd ${fd}`;
  }

  private alive(): void {
    if (this.dead) throw new PowerCut();
  }

  /** Counts a mutating call and decides its fate: cut, fail, or run (possibly short / dropping). */
  private mutate(op: MutatingOp, file: string): 'short' | 'syncFail' | undefined {
    this.alive();
    const n = ++this.mutations;
    if (n === this.opts.cutAt) {
      this.dead = true;
      throw new PowerCut();
    }
    const entry: (typeof this.log)[number] = { op, file };
    this.log.push(entry);
    if (this.persistent) {
      entry.fault = this.persistent;
      throw fsError(this.persistent, syscallOf(op), file);
    }
    const fault = this.opts.faults?.find((f) => f.at === n);
    if (!fault) return undefined;
    if (fault.code === 'short' || fault.code === 'syncFail') {
      if ((fault.code === 'short') !== (op === 'write') || (fault.code === 'syncFail') !== (op === 'fdatasync')) return undefined;
      this.faultsFired++;
      entry.fault = fault.code;
      return fault.code;
    }
    this.faultsFired++;
    entry.fault = fault.code;
    if ('persistent' in fault && fault.persistent) this.persistent = fault.code;
    throw fsError(fault.code, syscallOf(op), file);
  }

  private syncFile(node: FileNode): void {
    for (const op of node.pending) applyOp(node.durable, op);
    node.pending = [];
  }

  private descriptor(fd: number, syscall: string): Descriptor {
    this.alive();
    const d = this.fds.get(fd);
    if (!d) throw fsError('EBADF', syscall);
    return d;
  }

  private lookup(file: string): Node | undefined {
    let at: Node = this.root;
    for (const name of parts(file)) {
      if (at.kind !== 'dir') return undefined;
      const next: Node | undefined = at.live.get(name);
      if (!next) return undefined;
      at = next;
    }
    return at;
  }

  private parent(file: string, syscall: string): { dir: DirNode; name: string } {
    const abs = path.resolve(file);
    const dir = this.lookup(path.dirname(abs));
    if (!dir) throw fsError('ENOENT', syscall, file);
    if (dir.kind !== 'dir') throw fsError('ENOTDIR', syscall, file);
    return { dir, name: path.basename(abs) };
  }
}

function newFile(): FileNode {
  return { kind: 'file', live: new Bytes(), durable: new Bytes(), pending: [] };
}

function newDir(): DirNode {
  return { kind: 'dir', live: new Map(), durable: new Map(), pending: [] };
}

function applyDirOp(entries: Map<string, Node>, op: DirOp): void {
  if (op.t === 'link') {
    entries.set(op.name, op.node);
  } else if (op.t === 'unlink') {
    entries.delete(op.name);
  } else {
    const node = entries.get(op.from);
    // The source's own creation may not have survived; then neither does the rename.
    if (!node) return;
    entries.delete(op.from);
    entries.set(op.to, node);
  }
}

function parts(file: string): string[] {
  return path.resolve(file).split('/').filter((p) => p.length > 0);
}

function syscallOf(op: MutatingOp): string {
  return op === 'fsyncDir' ? 'fsync' : op === 'mkdirp' ? 'mkdir' : op;
}

