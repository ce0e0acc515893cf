/**
 * A wrong guess at the shape of `flushPolicy` gets a message that shows the
 * shape. `flushPolicy: 'group'` said only "must be an object with a `kind`",
 * and `{ mode: 'group' }` said "unknown flushPolicy kind undefined", naming
 * neither the field given nor the one wanted.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Emdb, tempDirs } from '../helpers/common.js';

async function refusal(flushPolicy: unknown, file: string): Promise<{ code?: string; message: string }> {
  try {
    const db = await Emdb.open(file, { readers: 1, flushPolicy: flushPolicy as never });
    await db.close();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error(`flushPolicy ${JSON.stringify(flushPolicy)} was accepted`);
}

describe('flushPolicy shape errors', () => {
  const newDir = tempDirs('emdb-flush-shape-');

  it('name the shape, the kinds, and the field that was given', async () => {
    const file = path.join(newDir(), 'db.emdb');
    const asString = await refusal('group', file);
    expect(asString.code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(asString.message).toContain("did you mean { kind: 'group' }?");
    expect(asString.message).toContain("'onEachFlush', 'group', 'writeThrough'");

    const otherField = await refusal({ mode: 'group', maxWaitMs: 2 }, file);
    expect(otherField.code).toBe('ERR_EMDB_INVALID_CONFIG');
    expect(otherField.message).toContain('flushPolicy.mode');

    const noKind = await refusal({ maxWaitMs: 2 }, file);
    expect(noKind.message).toContain('flushPolicy needs a kind');

    const badKind = await refusal({ kind: 'sometimes' }, file);
    expect(badKind.message).toContain("one of 'onEachFlush', 'group', 'writeThrough'");
    expect(await refusal({ kind: 'grup' }, file)).toMatchObject({ message: expect.stringContaining("did you mean 'group'?") });
  });
});
