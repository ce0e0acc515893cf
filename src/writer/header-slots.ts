import { SLOT_A_OFFSET } from '../format/constants.js';
import { encodeSlot, otherSlotOffset, type HeaderSlot } from '../format/header.js';

/** What the engine knows of the slot an open chose (open-log.ts). */
export interface SlotState {
  offset: number;
  sequence: number;
  checkpointAt: number;
  tailHint: number;
}

/**
 * The writer's view of the log's two header slots (A/B, docs/FORMAT.md): which
 * one is newest and what it says. A checkpoint writes the older one, so a torn
 * slot write leaves the other intact; the engine does the I/O.
 */
export class HeaderSlots {
  /** The newest slot: where it is, its sequence, when it was written. */
  private offset = 0;
  private sequence = 0;
  checkpointAt = 0;
  /** Where the newest slot says valid data ends (the durable tail at that checkpoint). */
  tailHint = 0;
  /**
   * Encrypted files: encodes a slot with its MAC under the current key
   * generation (log/log-crypt.ts), so a forged tail hint is detected.
   */
  seal: (slot: HeaderSlot) => Uint8Array = encodeSlot;

  /** The slot an open chose. */
  load(slot: SlotState): void {
    this.offset = slot.offset;
    this.sequence = slot.sequence;
    this.checkpointAt = slot.checkpointAt;
    this.tailHint = slot.tailHint;
  }

  /** A compacted log: its successor header holds slot A, sequence 1, tail `end`, written just now (a checkpoint: stats().lastCheckpointAt). */
  compacted(end: number, now = Date.now()): void {
    this.offset = SLOT_A_OFFSET;
    this.sequence = 1;
    this.tailHint = end;
    this.checkpointAt = now;
  }

  /** True when a checkpoint at `durableLsn` has something to record (or no slot was ever written). */
  stale(durableLsn: number): boolean {
    return this.tailHint !== durableLsn || this.sequence === 0;
  }

  /** The next slot's bytes and where they go: the older slot. */
  next(tailHint: number, liveKeys: number, prefixCrc: number | undefined, now: number): { bytes: Uint8Array; at: number } {
    const bytes = this.seal({ sequence: this.sequence + 1, tailHint, checkpointAt: now, liveKeys, prefixCrc });
    return { bytes, at: otherSlotOffset(this.offset) };
  }

  /** The slot from next() is written and synced. */
  written(at: number, tailHint: number, now: number): void {
    this.offset = at;
    this.sequence++;
    this.checkpointAt = now;
    this.tailHint = tailHint;
  }
}
