/**
 * A getMany over the keys of a transaction that was being applied returned a
 * mix of old and new values: the writer publishes a batch's index slots one by
 * one, and the keys of one getMany were looked up while it did. getMany is one
 * consistent view now (rule R6 in src/shm/layout.ts): every write batch (a
 * transaction, an insertMany chunk) is in its answer whole or not at all, on
 * the reader pool and on an attached thread (which reads on itself, as the
 * opening thread does before its pool is up). Separate getSync calls may
 * still see a batch on some keys only (README, "What a read sees").
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Emdb } from '../helpers/common.js';

const KEYS = Array.from({ length: 200 }, (_, i) => `acct:${String(i).padStart(3, '0')}`);
/** How long each case reads beside the writer; the previous build returned a torn answer within about a second. */
const READ_MS = 4_000;
const DIST_INDEX = pathToFileURL(path.resolve(import.meta.dirname, '../../dist/src/index.js')).href;

type Db = Emdb<string>;

/** Rewrites every key with the next number until stopped: one transaction, or one insertMany chunk, per round. */
function writeRounds(db: Db, how: 'transaction' | 'insertMany'): { stop: () => Promise<number> } {
  let stopped = false;
  let round = 0;
  const loop = (async () => {
    while (!stopped) {
      const v = String(++round);
      if (how === 'transaction') await db.transaction((tx) => KEYS.forEach((k) => tx.insert(k, v)));
      else await db.insertMany(KEYS.map((k) => [k, v] as const));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return round;
    },
  };
}

/** Distinct values in one answer: 1 when the answer holds each batch whole. */
function mixed(values: (string | undefined)[]): boolean {
  return new Set(values).size > 1;
}

describe('getMany sees each write batch whole', () => {
  it.each(['transaction', 'insertMany'] as const)('through the reader pool, beside %s rounds over the same keys', { timeout: 60_000 }, async (how) => {
    const db = await Emdb.openInMemory({ valueEncoding: 'utf8', readers: 2 });
    try {
      await db.insertMany(KEYS.map((k) => [k, '0'] as const));
      // The pool up first: before it, the opening thread answers reads itself.
      await db.get(KEYS[0]!);
      await new Promise((r) => setTimeout(r, 100));
      const writer = writeRounds(db, how);
      let reads = 0;
      let torn = 0;
      let sample: string[] | undefined;
      const until = performance.now() + READ_MS;
      while (performance.now() < until) {
        const values = await db.getMany(KEYS);
        reads++;
        if (mixed(values)) {
          torn++;
          sample ??= [...new Set(values as string[])];
        }
      }
      const rounds = await writer.stop();
      expect(rounds, 'the writer made progress beside the reads').toBeGreaterThan(20);
      expect(reads).toBeGreaterThan(20);
      expect({ torn, sample }, `${reads} getMany calls beside ${rounds} ${how} rounds`).toEqual({ torn: 0, sample: undefined });
    } finally {
      await db.close();
    }
  });

  it('on an attached thread, which reads the shared index itself', { timeout: 60_000 }, async () => {
    const db = await Emdb.openInMemory({ valueEncoding: 'utf8', readers: 1 });
    const reader = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.url).then(async ({ Emdb }) => {
        const db = await Emdb.attach(workerData.handle);
        parentPort.postMessage('ready');
        let reads = 0, torn = 0;
        const until = performance.now() + workerData.ms;
        while (performance.now() < until) {
          const values = await db.getMany(workerData.keys);
          reads++;
          if (new Set(values.map(String)).size > 1) torn++;
        }
        await db.close();
        parentPort.postMessage({ reads, torn });
      });`,
      { eval: true, workerData: { url: DIST_INDEX, handle: db.handle(), keys: KEYS, ms: READ_MS } },
    );
    try {
      await db.insertMany(KEYS.map((k) => [k, '0'] as const));
      const result = new Promise<{ reads: number; torn: number }>((resolve, reject) => {
        reader.on('message', (m: unknown) => {
          if (m !== 'ready') resolve(m as { reads: number; torn: number });
        });
        reader.once('error', reject);
      });
      const writer = writeRounds(db, 'transaction');
      const { reads, torn } = await result;
      const rounds = await writer.stop();
      expect(rounds).toBeGreaterThan(20);
      expect(reads).toBeGreaterThan(20);
      expect(torn, `${reads} getMany calls on the attached thread beside ${rounds} transactions`).toBe(0);
    } finally {
      await reader.terminate();
      await db.close();
    }
  });

  it('a long key list beside a busy writer still completes, and whole (the writer holds off for it)', { timeout: 120_000 }, async () => {
    const db = await Emdb.openInMemory({ valueEncoding: 'utf8', readers: 2 });
    const many = Array.from({ length: 50_000 }, (_, i) => `bulk:${i}`);
    try {
      await db.insertMany(many.map((k) => [k, '0'] as const));
      await db.insertMany(KEYS.map((k) => [k, '0'] as const));
      await db.get(KEYS[0]!);
      await new Promise((r) => setTimeout(r, 100));
      const writer = writeRounds(db, 'transaction');
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        const values = await db.getMany([...KEYS, ...many]);
        expect(performance.now() - started, 'a read this long must not be retried for ever').toBeLessThan(20_000);
        expect(new Set(values.slice(0, KEYS.length)).size).toBe(1);
        expect(values.length).toBe(KEYS.length + many.length);
      }
      await writer.stop();
    } finally {
      await db.close();
    }
  });
});
