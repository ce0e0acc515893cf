/**
 * Under `valueEncoding: 'msgpack'`, `insert(k, () => 42)` resolved, and then
 * `get` returned undefined while `contains` was true (msgpackr writes a
 * function as its `undefined`); `json` refuses it. A Map came back as a plain
 * object (number and string keys colliding; a Map with an object key stored a
 * value no read could decode) and a Set as an array. README: a value the
 * encoding cannot store is ERR_EMDB_INVALID_VALUE, and values come back in
 * the shape stored. Now: a top-level function, symbol or anything msgpack
 * writes as undefined, and a Map or Set anywhere in the value, are refused at
 * the public method on every write path, nothing written; what msgpack does
 * to the rest is README's table, pinned at the end.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Emdb } from '../helpers/common.js';

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
  norm(): number {
    return Math.hypot(this.x, this.y);
  }
}

const UNSTORABLE: [string, unknown][] = [
  ['a function', () => 42],
  ['a class', Point],
  ['a symbol', Symbol('s')],
  ['undefined', undefined],
  ['a Map', new Map([[1, 'a']])],
  ['a Map with an object key', new Map([[{ a: 1 }, 2]])],
  ['a Set', new Set([1, 2])],
  ['a Map nested in an object', { m: new Map([['k', 'v']]) }],
  ['a Set nested in an array', [1, new Set(['x'])]],
];

/** Runs a write in an attached worker thread and reports the error code it got (or 'resolved'). */
function attachedInsert(handle: unknown, kind: string): Promise<string> {
  const src = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.module).then(async ({ Emdb }) => {
      const db = await Emdb.attach(workerData.handle);
      const value = { fn: () => 42, map: new Map([[1, 'a']]), set: new Set([1]) }[workerData.kind];
      const code = await db.insert('w', value).then(() => 'resolved', (e) => e.code);
      await db.close();
      parentPort.postMessage(code);
    });`;
  const module = pathToFileURL(path.resolve(import.meta.dirname, '../../dist/src/index.js')).href;
  const w = new Worker(src, { eval: true, workerData: { module, handle, kind } });
  return new Promise<string>((resolve, reject) => {
    w.once('message', (m: string) => resolve(m));
    w.once('error', reject);
  }).finally(() => w.terminate());
}

describe('msgpack values that cannot come back as stored', () => {
  it('are refused with ERR_EMDB_INVALID_VALUE by insert, insertWithTtl, insertMany and tx.insert, nothing written', async () => {
    const db = await Emdb.openInMemory({ valueEncoding: 'msgpack', readers: 1 });
    try {
      for (const [what, value] of UNSTORABLE) {
        await expect(db.insert('k', value), `insert(${what})`).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_VALUE' });
        await expect(db.insertWithTtl('k', value, 60_000), `insertWithTtl(${what})`).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_VALUE' });
        await expect(db.insertMany([['ok', 1], ['k', value]]), `insertMany(${what})`).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_VALUE', committed: 0 });
        await expect(
          db.transaction((tx) => {
            tx.insert('ok', 1);
            tx.insert('k', value);
          }),
          `tx.insert(${what})`,
        ).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_VALUE' });
      }
      const ns = await db.namespace('n');
      await expect(ns.insert('k', () => 42)).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_VALUE' });
      await expect(db.focus('f').insert('k', new Set())).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_VALUE' });
      expect(await db.len()).toBe(0);
      expect(await db.contains('k')).toBe(false);
      expect(await ns.len()).toBe(0);
    } finally {
      await db.close();
    }
  });

  it('a namespace with valueEncoding msgpack refuses them too, in a database of another encoding', async () => {
    const db = await Emdb.openInMemory({ valueEncoding: 'utf8', readers: 1 });
    try {
      const ns = await db.namespace('packed', { valueEncoding: 'msgpack' });
      await expect(ns.insert('k', () => 1)).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_VALUE' });
      await expect(ns.insert('k', new Map())).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_VALUE' });
      expect(await ns.len()).toBe(0);
    } finally {
      await db.close();
    }
  });

  it('an attached thread refuses them the same way', { timeout: 60_000 }, async () => {
    const db = await Emdb.openInMemory({ valueEncoding: 'msgpack', readers: 1 });
    try {
      for (const kind of ['fn', 'map', 'set']) expect(await attachedInsert(db.handle(), kind), kind).toBe('ERR_EMDB_INVALID_VALUE');
      expect(await db.len()).toBe(0);
    } finally {
      await db.close();
    }
  });

  it("stores the rest as README's table says", async () => {
    const db = await Emdb.openInMemory({ valueEncoding: 'msgpack', readers: 1 });
    try {
      const date = new Date(1_700_000_000_000);
      await db.insert('plain', { n: 1, s: 'x', a: [1, null, true], nested: { d: date, big: 2n ** 40n, u: undefined } });
      expect(db.getSync('plain')).toEqual({ n: 1, s: 'x', a: [1, null, true], nested: { d: date, big: 2n ** 40n, u: undefined } });
      expect(db.getSync('plain').nested.d).toBeInstanceOf(Date);
      await db.insert('bytes', new Uint8Array([1, 2]));
      expect(Buffer.isBuffer(db.getSync('bytes'))).toBe(true);
      await db.insert('floats', new Float64Array([1.5]));
      expect(db.getSync('floats'), 'other typed arrays come back as a Buffer of their bytes').toEqual(Buffer.from(new Float64Array([1.5]).buffer));
      await db.insert('point', new Point(3, 4));
      const point = db.getSync('point');
      expect(point, 'a class instance comes back as a plain object of its own fields').toEqual({ x: 3, y: 4 });
      expect(point).not.toBeInstanceOf(Point);
      await db.insert('member', { f: () => 1, v: 2 });
      expect(db.getSync('member'), 'a function inside an object comes back as undefined').toEqual({ f: undefined, v: 2 });
      await expect(db.insert('huge', 2n ** 70n)).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_VALUE' });
      await expect(db.insert('sym', { s: Symbol('x') })).rejects.toMatchObject({ code: 'ERR_EMDB_INVALID_VALUE' });
      expect(await db.insert('null', null)).toBeUndefined();
      expect(db.getSync('null')).toBeNull();
      expect(await db.contains('null')).toBe(true);
    } finally {
      await db.close();
    }
  });
});
