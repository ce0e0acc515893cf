import { createRequire } from 'node:module';

type NodeCrypto = typeof import('node:crypto');

/**
 * node:crypto, loaded on first use. Its load is ~8 ms of a thread's start here
 * (dozens of Node's internal modules), and the writer thread's start is the
 * longest step of a reopen: a plaintext database reopened with no write never
 * needs it. Encrypted databases, new files and compactions load it when they
 * first call it.
 */
let loaded: NodeCrypto | undefined;
export function nodeCrypto(): NodeCrypto {
  loaded ??= createRequire(import.meta.url)('node:crypto') as NodeCrypto;
  return loaded;
}

/** `count` random bytes (node:crypto's randomBytes, loaded on first use). */
export function randomBytes(count: number): Buffer {
  return nodeCrypto().randomBytes(count);
}
