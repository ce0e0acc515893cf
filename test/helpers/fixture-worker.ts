/**
 * A fixture worker thread (test/fixtures, built to dist/test/fixtures)
 * answering one request at a time: `ready` is its first message, `ask` posts a
 * request and resolves with the next message (rejects on a worker error).
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { FIXTURES } from './common.js';

export interface FixtureWorker<Reply> {
  worker: Worker;
  ready: Promise<Reply>;
  ask(msg: object): Promise<Reply>;
}

export function fixtureWorker<Reply>(file: string, workerData: unknown): FixtureWorker<Reply> {
  const worker = new Worker(path.join(FIXTURES, file), { workerData });
  const next = (): Promise<Reply> =>
    new Promise<Reply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  const ready = next();
  return {
    worker,
    ready,
    ask(msg) {
      const answer = next();
      worker.postMessage(msg);
      return answer;
    },
  };
}
