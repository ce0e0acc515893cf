/**
 * `db.namespace(name)` called while `db.dropNamespace(name)` is still pending
 * (a DELETE /tenant in flight, a POST /tenant right behind it) used to resolve
 * with the cached handle the drop was closing: `dropped` true, every call
 * rejecting ERR_EMDB_CLOSED, and `namespaces()` without it. README: it
 * "resolves once the namespace exists"; a namespace created again under the
 * same name is a new one. A namespace(name) issued after dropNamespace(name)
 * on the same thread must resolve to the new, live namespace; so must
 * tx.namespace(name).
 */
import { describe, expect, it } from 'vitest';
import { Emdb } from '../helpers/common.js';

describe('namespace(name) after a pending dropNamespace(name)', () => {
  it('resolves to the re-created namespace, not the handle being dropped', async () => {
    const db = await Emdb.openInMemory({ valueEncoding: 'utf8', readers: 1 });
    try {
      const old = await db.namespace('tenant');
      await old.insert('k', 'old');
      const drop = db.dropNamespace('tenant');
      const fresh = await db.namespace('tenant');
      expect(await drop).toBe(true);
      expect(fresh).not.toBe(old);
      expect(old.dropped).toBe(true);
      expect(fresh.dropped).toBe(false);
      await fresh.insert('k2', 'new');
      expect(fresh.getSync('k'), 'the old key went with the drop').toBeUndefined();
      expect(fresh.getSync('k2')).toBe('new');
      expect(await db.namespaces()).toEqual(['tenant']);
      expect(await db.namespace('tenant'), 'and it is the one namespace(name) keeps returning').toBe(fresh);
    } finally {
      await db.close();
    }
  });

  it('a namespace(name) already in flight when the drop is asked for is not cached for later calls', async () => {
    const db = await Emdb.openInMemory({ valueEncoding: 'utf8', readers: 1 });
    try {
      const before = db.namespace('t');
      const drop = db.dropNamespace('t');
      const after = db.namespace('t');
      const [b, dropped, a] = await Promise.all([before, drop, after]);
      expect(dropped).toBe(true);
      expect(b.dropped, 'asked for before the drop: it is the namespace the drop removed').toBe(true);
      expect(a.dropped).toBe(false);
      const later = await db.namespace('t');
      expect(later.dropped).toBe(false);
      await later.insert('k', 'v');
      expect(a.getSync('k')).toBe('v');
    } finally {
      await db.close();
    }
  });

  it('tx.namespace(name) after a pending drop stages into the re-created namespace', async () => {
    const db = await Emdb.openInMemory({ valueEncoding: 'utf8', readers: 1 });
    try {
      await (await db.namespace('t')).insert('k', 'old');
      let drop: Promise<boolean> | undefined;
      await db.transaction(async (tx) => {
        drop = db.dropNamespace('t');
        const t = await tx.namespace<string>('t');
        t.insert('k', 'new');
        tx.insert('ledger', 't/k');
      });
      expect(await drop).toBe(true);
      const t = await db.namespace('t');
      expect(t.getSync('k'), 'the write committed into the namespace that exists now').toBe('new');
      expect(db.getSync('ledger')).toBe('t/k');
    } finally {
      await db.close();
    }
  });
});
