import type { FlushPolicy } from '../types.js';
import type { WriterRequest } from '../protocol.js';

/** How long the writer polls its opener's port after answering a durable request, µs. */
export const LINGER_MICROS = 100;
/** Requests answered in one lingering chain before the writer yields to its event loop once. */
export const LINGER_CHAIN = 8;

/** LINGER_MICROS, or EMDB_LINGER_US (0 turns lingering off; a benchmarking knob). */
export function lingerMicros(): number {
  const env = typeof process !== 'undefined' ? process.env.EMDB_LINGER_US : undefined;
  const n = env === undefined || env === '' ? NaN : Number(env);
  return Number.isFinite(n) && n >= 0 ? n : LINGER_MICROS;
}

/**
 * Linger: after the writer answers a durable write (a write carrying a flush
 * mark, or a flush), it polls the opening thread's port for a short while
 * (receiveMessageOnPort) instead of going back to its event loop at once. A
 * producer in a durable loop sends its next write within a few tens of µs of
 * receiving the reply; caught by the poll, that write skips the writer's
 * wake-up from epoll, which on this VM is a large part of a round trip
 * (docs/BENCH.md, "Linger"). The poll burns at most LINGER_MICROS of CPU per
 * durable request, which costs an fdatasync anyway.
 *
 * Bounds: only under onEachFlush and writeThrough (a `group` leader waits for
 * followers through setImmediate and timers, which a poll would hold back);
 * only the opener's port (attached threads' requests arrive on a channel the
 * event loop serves); and at most LINGER_CHAIN requests per chain, then one
 * turn of the event loop, so timers, attached threads and background steps
 * are never held back by more than a few milliseconds.
 */
export class Linger {
  private durable = false;
  private chain = 0;

  constructor(
    private readonly policy: FlushPolicy['kind'],
    private readonly micros: number,
  ) {}

  /** Notes a request as it is dispatched. */
  saw(req: WriterRequest): void {
    if (req.t === 'flush' || (req.t === 'write' && req.marks !== undefined)) this.durable = true;
  }

  /** After the event loop delivered a message: whether to linger once it is answered. */
  due(): boolean {
    const due = this.durable && this.micros > 0 && this.policy !== 'group';
    this.durable = false;
    this.chain = 0;
    return due;
  }

  /** Polls with `receive` until something arrives or the time is up. */
  poll<T>(receive: () => T | undefined): T | undefined {
    const stop = performance.now() + this.micros / 1000;
    do {
      const got = receive();
      if (got !== undefined) return got;
    } while (performance.now() < stop);
    return undefined;
  }

  /** After a polled message was dispatched: whether to keep lingering (it was durable and the chain has room). */
  again(): boolean {
    const more = this.durable && ++this.chain < LINGER_CHAIN;
    this.durable = false;
    if (!more) this.chain = 0;
    return more;
  }
}
