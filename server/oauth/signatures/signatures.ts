// Signatures beside the main thread, one set per portal (the endpoints make it and close
// it): the access token's ES256 signature and a client assertion's check run on a thread of
// their own (thread.ts, worker.ts), so the main thread parses, authenticates and answers
// other requests meanwhile; offload.ts says when they run on the main thread instead.
import os from 'node:os';
import type crypto from 'node:crypto';
import type { Config } from '../../lib/config.ts';
import { createOffload, type OffloadMode, type OffloadOptions } from './offload.ts';
import { signText, verifyText } from './operations.ts';
import { createSignatureThread } from './thread.ts';

// The base64url signature of `data` (crypto.sign's arguments, the key apart from its options).
export type Sign = (hash: string | null, data: string, key: crypto.KeyObject, options: object) => string | Promise<string>;
// Whether the base64url `signature` is `key`'s for `data`.
// null: not checked (the thread is full, failed or late; never redone inline), which is not a
// bad signature and must not be answered or counted as one.
export type Verify = (hash: string | null, data: string, key: crypto.KeyObject, options: object, signature: string) => boolean | null | Promise<boolean | null>;

export type Signatures = ReturnType<typeof createSignatures>;

// SIGNATURES=auto: the thread with two cores or more; on one it would only take the core
// from the main thread.
export function signaturesMode(setting: Config['signatures'], cores = os.availableParallelism()): OffloadMode {
  if (setting !== 'auto') return setting;
  return cores > 1 ? 'thread' : 'inline';
}

export function createSignatures(mode: OffloadMode, options: { offload?: OffloadOptions; restartAfterMs?: number } = {}) {
  const thread = createSignatureThread({ restartAfterMs: options.restartAfterMs });
  // Inline until the thread is up; the first signature starts it.
  const offload = createOffload({ ...options.offload, mode, ready: () => thread.ready || (thread.warm(), false) });

  const sign: Sign = (hash, data, key, keyOptions) =>
    offload.run<string>(
      (done) => thread.sign(hash, data, key, keyOptions, done),
      () => signText(hash, data, key, keyOptions),
    );
  // Not checked (null) when the thread cannot take it or has not answered in time: never
  // redone inline.
  const verify: Verify = (hash, data, key, keyOptions, signature) =>
    offload.run<boolean | null>(
      (done) => thread.verify(hash, data, key, keyOptions, signature, done),
      () => verifyText(hash, data, key, keyOptions, signature),
      () => null,
    );

  return {
    sign,
    verify,
    // Where they ran (the request log's line), and the thread (its losses, for the log too).
    counts: offload.counts,
    thread,
    close: () => thread.close(),
  };
}
