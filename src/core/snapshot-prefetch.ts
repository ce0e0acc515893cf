import fs from 'node:fs';
import { SNAPSHOT_HEADER_SIZE } from '../format/constants.js';
import { decodeSnapshotHeader, snapshotCapacityPlausible, snapshotPath } from '../format/snapshot.js';
import type { PrefetchedSnapshot } from '../protocol.js';
import { indexBytes } from '../shm/layout.js';

/**
 * Reads the index snapshot's table into the SharedArrayBuffer the index will
 * live in, on the opening thread while the writer thread boots. The boot is
 * the longest step of a reopen (~50 ms here: an isolate and the bundle); the
 * table's read was the next (~24 ms for the 1,000,000-record database's
 * 32 MiB, mostly faulting in fresh memory), and it ran after the boot on the
 * writer. The read goes through libuv's pool, so this thread stays free.
 *
 * Nothing here is trusted: the writer uses the table only when the header it
 * reads itself is byte-identical to the one read here, and then checks the
 * body CRC over the table and the catalogue exactly as for its own read
 * (writer/snapshot.ts); otherwise it reads the file itself. Called only once
 * the lock is held, so no other writer rewrites the snapshot meanwhile. An
 * encrypted database's sealed body starts with the table's ciphertext, byte
 * for byte (stream ciphers): the writer authenticates and decrypts it in place.
 */
export async function prefetchSnapshot(dbFile: string): Promise<PrefetchedSnapshot | undefined> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(snapshotPath(dbFile), 'r');
    const size = (await handle.stat()).size;
    const header = new Uint8Array(SNAPSHOT_HEADER_SIZE);
    if (!(await readAll(handle, header, 0))) return undefined;
    const decoded = decodeSnapshotHeader(header);
    if (!decoded || !snapshotCapacityPlausible(decoded.indexCapacity)) return undefined;
    const tableBytes = indexBytes(decoded.indexCapacity);
    if (tableBytes > decoded.bodyBytes || tableBytes > size - SNAPSHOT_HEADER_SIZE) return undefined;
    const table = new SharedArrayBuffer(tableBytes);
    if (!(await readAll(handle, new Uint8Array(table), SNAPSHOT_HEADER_SIZE))) return undefined;
    return { header, table };
  } catch {
    // No snapshot, or it cannot be read here: the writer's own read decides (and reports).
    return undefined;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

async function readAll(handle: fs.promises.FileHandle, into: Uint8Array, position: number): Promise<boolean> {
  for (let done = 0; done < into.length; ) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) return false;
    done += bytesRead;
  }
  return true;
}
