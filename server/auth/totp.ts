// TOTP (RFC 6238) with speakeasy: 6 digits, 30-second steps, the current step and the
// one before only, and never the same step twice for a user.
import crypto from 'node:crypto';
import speakeasy from 'speakeasy';
import QRCode from 'qrcode';
import { and, eq, isNull, lt, or } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { users } from '../../db/schema.ts';
import { constantTimeEqual } from '../lib/crypto.ts';

export const TOTP_ISSUER = 'Credentials Portal';
const STEP_SECONDS = 30;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

// 160 random bits from the CSPRNG, base32 (speakeasy.generateSecret's alphabet is biased).
export function generateTotpSeed(): string {
  return base32(crypto.randomBytes(20));
}

export function totpUri(seed: string, email: string): string {
  const label = encodeURIComponent(`${TOTP_ISSUER}:${email}`);
  return `otpauth://totp/${label}?secret=${seed}&issuer=${encodeURIComponent(TOTP_ISSUER)}&algorithm=SHA1&digits=6&period=${STEP_SECONDS}`;
}

// The otpauth URI as a QR code to scan: an SVG data URL (a PNG costs eight times the CPU
// and scales worse).
export async function totpQrCode(uri: string, width: number): Promise<string> {
  const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 1, width });
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}

// The key grouped in fours for typing into an app by hand.
export function formatSeedForDisplay(seed: string): string {
  return seed.replace(/(.{4})/g, '$1 ').trim();
}

export const isTotpCodeShape = (code: string) => /^\d{6}$/.test(code);

// Which step (if any) the code is valid for: the current one or the one before.
export function matchTotpStep(seed: string, code: string, nowMs: number): number | null {
  if (!isTotpCodeShape(code)) return null;
  const current = Math.floor(nowMs / 1000 / STEP_SECONDS);
  let matched: number | null = null;
  for (const step of [current, current - 1]) {
    const expected = speakeasy.totp({ secret: seed, encoding: 'base32', time: step * STEP_SECONDS, step: STEP_SECONDS, digits: 6 });
    // Both candidates are always compared, so timing does not tell which one matched.
    if (constantTimeEqual(expected, code) && matched === null) matched = step;
  }
  return matched;
}

// Records the step as used, atomically: false when it (or a later one) was used before.
export function consumeTotpStep(db: Db, userId: number, step: number): boolean {
  const result = db
    .update(users)
    .set({ totpLastStep: step })
    .where(and(eq(users.id, userId), or(isNull(users.totpLastStep), lt(users.totpLastStep, step))))
    .run();
  return result.changes === 1;
}
