import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURES, rmrf, scaled, spawnCrashChild, tmpDir } from '../helpers/common.js';
import { Kind, rng, walkRecords, withInProcessEngine } from '../helpers/log-image.js';

const KILLS = scaled(Number(process.env.EMDB_TX_KILLS ?? 100));
/** Must match test/fixtures/tx-child.ts: keys per transaction, plus its `last` key. */
const TX_KEYS = 1500;

/**
 * Runs the child and SIGKILLs it: usually a random 0–80 ms after its first
 * acknowledged commit (so the next ~400 KB commit is being written), sometimes at
 * a random moment of startup and recovery. Returns the last acknowledged transaction.
 */
function runAndKill(file: string, start: number, random: () => number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawnCrashChild(path.join(FIXTURES, 'tx-child.js'), [file, String(start)]);
    let lastAck = start - 1;
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    const kill = (): void => void child.kill('SIGKILL');
    if (random() < 0.2) timer = setTimeout(kill, Math.floor(random() * 600));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) if (line.startsWith('ack ')) lastAck = Number(line.slice(4));
      if (lastAck >= start && !timer) timer = setTimeout(kill, Math.floor(random() * 80));
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const watchdog = setTimeout(kill, 20_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(watchdog);
      if (signal !== 'SIGKILL') reject(new Error(`child exited on its own (${code}): ${err}`));
      else resolve(lastAck);
    });
  });
}

describe('kill -9 during large transaction commits', () => {
  const dir = tmpDir('emdb-txkill-');
  afterAll(() => rmrf(dir));

  it(`every transaction is all or nothing, and every acknowledged one survives, over ${KILLS} kills`, async () => {
    const file = path.join(dir, 'tx.emdb');
    const random = rng(0x7a11);
    let committed = 0;
    let killsMidCommit = 0;
    const violations: string[] = [];
    for (let k = 0; k < KILLS; k++) {
      if (k % 20 === 0) {
        // A fresh file now and then keeps each iteration's recovery small.
        fs.rmSync(file, { force: true });
        committed = 0;
      }
      const lastAck = await runAndKill(file, committed, random);
      if (lastAck >= committed) killsMidCommit++;
      if (!fs.existsSync(file)) continue; // killed before the database was created
      // The writer's own recovery, on this thread (no worker start per check).
      const live = withInProcessEngine(file, (engine) => {
        const records = engine.stats().records;
        engine.close();
        return records;
      });
      // After recovery the log holds only whole transactions: begin, TX_KEYS + 1 puts, commit.
      const image = fs.readFileSync(file);
      const { records, end } = walkRecords(image);
      if (end !== image.length) violations.push(`kill ${k}: ${image.length - end} bytes of residue left after recovery`);
      let txs = 0;
      for (let i = 0; i < records.length; ) {
        if (records[i]!.kind !== Kind.TX_BEGIN) {
          violations.push(`kill ${k}: record outside a transaction at ${records[i]!.start}`);
          break;
        }
        const commit = records[i + TX_KEYS + 2];
        if (!commit || commit.kind !== Kind.TX_COMMIT) {
          violations.push(`kill ${k}: transaction at ${records[i]!.start} is not whole`);
          break;
        }
        txs++;
        i += TX_KEYS + 3;
      }
      if (txs - 1 < lastAck) violations.push(`kill ${k}: acknowledged transaction ${lastAck} lost (${txs} recovered)`);
      const expectedLive = txs === 0 ? 0 : txs * TX_KEYS + 1;
      if (live !== expectedLive) violations.push(`kill ${k}: ${live} live keys, expected ${expectedLive}`);
      committed = txs;
    }
    expect(violations).toEqual([]);
    // The loop must really kill committing processes, not only ones still starting.
    expect(killsMidCommit).toBeGreaterThanOrEqual(KILLS / 2);
  }, scaled(900_000));
});
