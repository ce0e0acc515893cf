import { describe, expect, it } from 'vitest';
import { eachEnvelope, PortOutbox } from '../../dist/src/port-outbox.js';
import type { PortMessage, WriterRequest } from '../../dist/src/protocol.js';
import { envelope, unpack } from '../../dist/src/protocol-codec.js';

function collector(): { posts: PortMessage[]; outbox: PortOutbox } {
  const posts: PortMessage[] = [];
  return { posts, outbox: new PortOutbox((msg) => posts.push(msg)) };
}

const request = (id: number) => envelope({ t: 'flush', id } as WriterRequest);
const ids = (msg: PortMessage) => {
  const out: number[] = [];
  eachEnvelope(msg, (env) => out.push(unpack<WriterRequest>(env.m).id));
  return out;
};

describe('port outbox: one postMessage per tick', () => {
  it('sends everything pushed in one tick, promise continuations included, as one batch in push order', async () => {
    const { posts, outbox } = collector();
    const pushLater = async (id: number) => {
      await Promise.resolve();
      await Promise.resolve();
      const { env, transfer } = request(id);
      outbox.push(env, transfer);
    };
    const first = request(1);
    outbox.push(first.env, first.transfer);
    void pushLater(3);
    const second = request(2);
    outbox.push(second.env, second.transfer);
    expect(posts).toHaveLength(0);
    await new Promise((r) => setImmediate(r));
    expect(posts.map(ids)).toEqual([[1, 2, 3]]);
  });

  it('a lone envelope goes as itself; pushes of a later tick go in a later message; flush() posts at once', async () => {
    const { posts, outbox } = collector();
    const a = request(1);
    outbox.push(a.env, a.transfer);
    await new Promise((r) => setImmediate(r));
    expect('batch' in posts[0]!).toBe(false);
    const b = request(2);
    outbox.push(b.env, b.transfer);
    outbox.flush();
    expect(posts.map(ids)).toEqual([[1], [2]]);
    await new Promise((r) => setImmediate(r));
    expect(posts).toHaveLength(2);
  });
});
