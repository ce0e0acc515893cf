import type { Envelope, PortMessage } from './protocol.js';

/**
 * Coalesces the envelopes one thread posts to one port within a tick into a
 * single postMessage. Eight async producers that each write and flush post eight
 * requests in the same tick; sent together they cost one structured clone and
 * one wake-up of the writer instead of eight, and the writer's eight replies,
 * made in one turn, come back the same way. Nothing is merged: the receiver
 * handles each envelope as if it had come alone, in order (eachEnvelope), so a
 * flush still covers exactly the requests sent before it.
 *
 * The batch leaves in process.nextTick: Node runs a tick's nextTick queue only
 * after the microtask queue has drained, so every promise continuation of the
 * current turn (each producer's next write) has queued its envelope by then.
 */
export class PortOutbox {
  private envs: Envelope[] = [];
  private transfer: ArrayBuffer[] = [];
  private scheduled = false;

  constructor(private readonly post: (msg: PortMessage, transfer: ArrayBuffer[]) => void) {}

  push(env: Envelope, transfer: readonly ArrayBuffer[]): void {
    this.envs.push(env);
    for (const t of transfer) this.transfer.push(t);
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  /** Posts what is queued now (also called before the port is closed). */
  flush(): void {
    this.scheduled = false;
    const envs = this.envs;
    if (envs.length === 0) return;
    const transfer = this.transfer;
    this.envs = [];
    this.transfer = [];
    this.post(envs.length === 1 ? envs[0]! : { batch: envs }, transfer);
  }
}

/** Calls `fn` for each envelope of a port message, in the order they were posted. */
export function eachEnvelope(msg: PortMessage, fn: (env: Envelope) => void): void {
  if ('batch' in msg) for (const env of msg.batch) fn(env);
  else fn(msg);
}
