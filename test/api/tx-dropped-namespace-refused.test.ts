/**
 * A transaction that staged writes into a namespace and into the default one
 * resolved as committed after that namespace was dropped during its callback:
 * the default namespace's writes landed, the dropped namespace's were
 * silently discarded. Transactions are all-or-nothing (README), and
 * ERR_EMDB_CLOSED is what a dropped namespace gives: the commit must be
 * refused whole, nothing of it applied or written, when any staged write
 * targets a namespace dropped before the writer applies the commit. The
 * writer decides it, in message order, so a drop still in flight when the
 * commit leaves is caught too.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

describe('a transaction writing into a namespace dropped before it commits', () => {
  const newDir = tempDirs('emdb-tx-drop-');

  it('is refused whole with ERR_EMDB_CLOSED: nothing applied, nothing written to the log', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const db = await Emdb.open(file, { valueEncoding: 'utf8', readers: 1 });
    let logEnd = -1;
    try {
      await db.namespace('a');
      const tx = db.transaction(async (t) => {
        const a = await t.namespace<string>('a');
        a.insert('order1', 'paid');
        t.insert('ledger:order1', 'a/order1');
        expect(await db.dropNamespace('a')).toBe(true);
        logEnd = (await db.stats()).fileBytes;
        return 'committed';
      });
      await expect(tx).rejects.toMatchObject({ code: 'ERR_EMDB_CLOSED' });
      expect(db.getSync('ledger:order1'), 'the default namespace write did not land either').toBeUndefined();
      expect((await db.stats()).fileBytes, 'the refused commit wrote no byte').toBe(logEnd);
      const a2 = await db.namespace('a');
      expect(a2.getSync('order1')).toBeUndefined();
      await db.transaction((t) => void t.insert('after', 'ok'));
      expect(db.getSync('after'), 'later transactions commit as usual').toBe('ok');
    } finally {
      await db.close();
    }
    const reopened = await Emdb.open(file, { valueEncoding: 'utf8', readers: 1 });
    try {
      expect(reopened.getSync('ledger:order1')).toBeUndefined();
      expect((await reopened.namespace('a')).getSync('order1')).toBeUndefined();
    } finally {
      await reopened.close();
    }
  });

  it('also when the drop is still in flight as the commit leaves (decided by the writer)', async () => {
    const db = await Emdb.openInMemory({ valueEncoding: 'utf8', readers: 1 });
    try {
      const a = await db.namespace('a');
      await a.insert('k', 'old');
      let drop: Promise<boolean> | undefined;
      const tx = db.transaction(async (t) => {
        (await t.namespace<string>('a')).insert('k', 'new');
        t.insert('ledger', 'x');
        // Not awaited: the drop request leaves first, the commit right behind it on the same link.
        drop = db.dropNamespace('a');
      });
      await expect(tx).rejects.toMatchObject({ code: 'ERR_EMDB_CLOSED' });
      expect(await drop).toBe(true);
      expect(db.getSync('ledger')).toBeUndefined();
      expect(await db.len()).toBe(0);
    } finally {
      await db.close();
    }
  });

  it('a transaction that writes into live namespaces only is not affected by another namespace dropped meanwhile', async () => {
    const db = await Emdb.openInMemory({ valueEncoding: 'utf8', readers: 1 });
    try {
      await db.namespace('gone');
      await db.transaction(async (t) => {
        (await t.namespace<string>('kept')).insert('k', 'v');
        t.insert('d', 'v');
        await db.dropNamespace('gone');
      });
      expect((await db.namespace('kept')).getSync('k')).toBe('v');
      expect(db.getSync('d')).toBe('v');
    } finally {
      await db.close();
    }
  });
});
