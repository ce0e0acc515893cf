/**
 * Nothing an encrypted database writes holds a key or value in the clear
 * (issue 15): 1,000 random keys and values are planted through every write
 * path that persists something (inserts, a transaction, namespaces, a
 * checkpoint with its index snapshot and, with rangeScans, the snapshot's
 * sorted-index section, compaction, backup, the lock file while open), then
 * every file in the directory is scanned for each of them. The
 * negative control runs the same scan on an unencrypted database and must
 * find them all, so the scan itself can fail.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

const N = 1000;

/** The sorted-index section of an index snapshot (bit 0 of the section bitmap at 104; it follows the body: 128 + body bytes at 92). */
function sortedSection(snapshot: Buffer): Buffer | undefined {
  if ((snapshot.readUInt32LE(104) & 1) === 0) return undefined;
  return snapshot.subarray(128 + Number(snapshot.readBigUInt64LE(92)));
}

async function plantAndScan(dir: string, encryption: object | undefined): Promise<{ found: number; files: string[]; sortedFound: number | undefined }> {
  const planted: Buffer[] = [];
  const file = path.join(dir, 'scan.emdb');
  const db = await Emdb.open(file, { readers: 1, rangeScans: true, ...(encryption ? { encryption } : {}) });
  const ns = await db.namespace(`ns-${randomBytes(8).toString('hex')}`);
  planted.push(Buffer.from(ns.name));
  const pairs: [Buffer, Buffer][] = [];
  for (let i = 0; i < N / 2; i++) pairs.push([randomBytes(12), randomBytes(24)]);
  for (const [k, v] of pairs) planted.push(k, v);
  const half = pairs.length / 2;
  for (const [k, v] of pairs.slice(0, half - 50)) await db.insert(k, v);
  await db.transaction(async (tx) => {
    for (const [k, v] of pairs.slice(half - 50, half)) await tx.insert(k, v);
  });
  for (const [k, v] of pairs.slice(half)) await ns.insert(k, v);
  await db.checkpoint();
  // While open: the lock file, the log, the index snapshot.
  const files = new Set<string>(fs.readdirSync(dir));
  const scan = (): number => {
    let found = 0;
    for (const name of fs.readdirSync(dir)) {
      files.add(name);
      const bytes = fs.readFileSync(path.join(dir, name));
      for (const p of planted) if (bytes.includes(p)) found++;
    }
    return found;
  };
  let found = scan();
  await db.compact();
  await db.backupTo(path.join(dir, 'copy.emdb'));
  found += scan();
  await db.close();
  found += scan();
  // The close wrote a snapshot with the sorted index of every key: look in that section alone too.
  const section = sortedSection(fs.readFileSync(`${file}.index`));
  const sortedFound = section && planted.filter((p) => section.includes(p)).length;
  return { found, files: [...files].sort(), sortedFound };
}

describe('no plaintext on disk', () => {
  const newDir = tempDirs();

  it('an encrypted database: none of 1,000 planted keys and values in any file it writes', async () => {
    const { found, files, sortedFound } = await plantAndScan(newDir(), { key: randomBytes(32) });
    expect(files).toEqual(expect.arrayContaining(['scan.emdb', 'scan.emdb.index', 'scan.emdb.lock', 'copy.emdb']));
    expect(found).toBe(0);
    // The snapshot does carry a sorted section (sealed), so the scan above covered it.
    expect(sortedFound).toBe(0);
  }, 60_000);

  it('negative control: the same scan finds them in an unencrypted database', async () => {
    const { found, sortedFound } = await plantAndScan(newDir(), undefined);
    expect(found).toBeGreaterThan(N);
    // Every key is in the clear in the plaintext sorted section.
    expect(sortedFound).toBeGreaterThanOrEqual(N / 2);
  }, 60_000);
});
