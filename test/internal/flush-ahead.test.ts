/**
 * Flush-ahead (src/core/flush-ahead.ts) on a WriterLink with a scripted writer:
 * which requests carry a flush mark, when flush() sends no message, and that a
 * failed sync of a carried mark still reaches the flush() that relies on it.
 */
import { describe, expect, it } from 'vitest';
import { FLUSH_AHEAD_AFTER } from '../../dist/src/core/flush-ahead.js';
import { WriterLink, type LinkTransport } from '../../dist/src/core/writer-link.js';
import { EmdbError, ErrorCode, serializeError } from '../../dist/src/errors.js';
import type { Envelope, WriterReply, WriterRequest } from '../../dist/src/protocol.js';
import { envelope, unpack } from '../../dist/src/protocol-codec.js';

type Writer = (req: WriterRequest) => Omit<Extract<WriterReply, { t: 'done' }>, 't' | 'id'>;

/** A link whose writer answers every request on the next macrotask with `answer`; `sent` lists the requests. */
function scripted(answer: Writer = () => ({})): { link: WriterLink; sent: WriterRequest[] } {
  const sent: WriterRequest[] = [];
  let receive: (env: Envelope) => void = () => undefined;
  const transport: LinkTransport = {
    listen: (r) => void (receive = r),
    send: (env) => {
      const req = unpack<WriterRequest>(env.m);
      sent.push(req);
      setImmediate(() => receive(envelope({ t: 'done', id: req.id, ...answer(req) } as WriterReply).env));
    },
    ref: () => undefined,
  };
  return { link: new WriterLink(transport), sent };
}

const put = (link: WriterLink, key: string): Promise<void> => link.batcher.put(0, key, key.length, 'v', 0);
const kinds = (sent: WriterRequest[]) => sent.map((r) => (r.t === 'write' ? (r.marks ? `write+mark@${r.marks.join(',')}` : 'write') : r.t));

describe('flush-ahead', () => {
  it(`after ${FLUSH_AHEAD_AFTER} write-then-flush cycles, a write carries its own mark and the next flush() sends nothing`, async () => {
    const { link, sent } = scripted();
    for (let i = 0; i < FLUSH_AHEAD_AFTER; i++) {
      await put(link, `k${i}`);
      await link.flush();
    }
    expect(kinds(sent)).toEqual(Array.from({ length: FLUSH_AHEAD_AFTER }, () => ['write', 'flush']).flat());
    sent.length = 0;
    await put(link, 'next');
    await link.flush();
    await link.flush(); // nothing new: the same mark still covers this thread's writes
    expect(sent).toHaveLength(1);
    expect(kinds(sent)[0]).toMatch(/^write\+mark@\d+$/);
    const req = sent[0] as Extract<WriterRequest, { t: 'write' }>;
    expect(req.marks).toEqual([req.bytes]);
  });

  it('a second batch without a flush in between turns it off at once (bulk writers pay no extra syncs)', async () => {
    const { link, sent } = scripted();
    for (let i = 0; i < FLUSH_AHEAD_AFTER; i++) {
      await put(link, `k${i}`);
      await link.flush();
    }
    sent.length = 0;
    await put(link, 'a'); // predicted: carries a mark
    await put(link, 'b'); // a second batch before any flush: no mark, and none after it
    await put(link, 'c');
    await link.flush();
    expect(kinds(sent).map((k) => k.replace(/@\d+/, ''))).toEqual(['write+mark', 'write', 'write', 'flush']);
  });

  it('bulk write messages (insertMany chunks, transaction commits) take part; any other request in between clears the cover', async () => {
    const { link, sent } = scripted();
    const bulk = () => link.call({ t: 'write', count: 1, bytes: 64, existed: false }, new ArrayBuffer(64));
    for (let i = 0; i < FLUSH_AHEAD_AFTER; i++) {
      await bulk();
      await link.flush();
    }
    sent.length = 0;
    await bulk();
    await link.flush();
    expect(kinds(sent)).toEqual(['write+mark@64']);
    sent.length = 0;
    await bulk();
    await link.call({ t: 'persist', ns: 0, key: new Uint8Array([1]) });
    await link.flush();
    expect(kinds(sent)).toEqual(['write+mark@64', 'persist', 'flush']);
  });

  it('a failed sync of a carried mark rejects the flush() that relies on it, and the write itself still resolves', async () => {
    const failure = new EmdbError(ErrorCode.IO, 'fdatasync failed (scripted)');
    const { link, sent } = scripted((req) => (req.t === 'write' && req.marks ? { syncErrors: [serializeError(failure)] } : {}));
    for (let i = 0; i < FLUSH_AHEAD_AFTER; i++) {
      await put(link, `k${i}`);
      await link.flush();
    }
    sent.length = 0;
    await expect(put(link, 'x')).resolves.toBeUndefined();
    await expect(link.flush()).rejects.toMatchObject({ code: 'ERR_EMDB_IO' });
    expect(sent).toHaveLength(1);
  });

  it('same-tick write + flush keeps its own mark and does not count as a prediction', async () => {
    const { link, sent } = scripted();
    for (let i = 0; i < 4; i++) await Promise.all([put(link, `k${i}`), link.flush()]);
    expect(kinds(sent).every((k) => /^write\+mark@\d+$/.test(k))).toBe(true);
    expect(sent).toHaveLength(4);
    // Each batch holds one mark only: the carried one, never a second one ahead of it.
    expect(sent.every((r) => r.t === 'write' && r.marks!.length === 1)).toBe(true);
  });
});
