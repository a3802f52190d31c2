// Parsers shared by the web forms and the CLI. Each returns the clean value or a
// message fit to show next to the field.
export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(message: string): Parsed<T> => ({ ok: false, message });

// Control characters (C0, DEL, C1) and the Unicode line/paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export function parseName(input: unknown, label: string, max = 100): Parsed<string> {
  if (typeof input !== 'string') return fail(`Enter a ${label.toLowerCase()}.`);
  const value = input.trim();
  if (value.length === 0) return fail(`Enter a ${label.toLowerCase()}.`);
  if (value.length > max) return fail(`${label} must be at most ${max} characters.`);
  if (CONTROL.test(value)) return fail(`${label} must not contain control characters such as line breaks or tabs.`);
  return ok(value);
}

export function parseEmail(input: unknown): Parsed<string> {
  if (typeof input !== 'string' || input.trim() === '') return fail('Enter an email address.');
  const value = input.trim().toLowerCase();
  if (value.length > 254 || CONTROL.test(value) || !/^[^\s@<>()",;:]+@[^\s@<>()",;:]+\.[a-z0-9-]{2,}$/i.test(value)) {
    return fail('Enter a valid email address, like name@example.org.');
  }
  return ok(value);
}

export function parseCountryCode(input: unknown): Parsed<string> {
  if (typeof input !== 'string' || !/^[A-Za-z]{2}$/.test(input.trim())) return fail('Enter a two-letter country code, like NL.');
  return ok(input.trim().toUpperCase());
}

export function parseApiCode(input: unknown): Parsed<string> {
  if (typeof input !== 'string' || !/^[A-Za-z][A-Za-z0-9_-]{0,19}$/.test(input.trim())) {
    return fail('An API code is 1 to 20 letters, digits, - or _, starting with a letter, like DM.');
  }
  return ok(input.trim().toUpperCase());
}

export function parseId(input: unknown): number | null {
  if (typeof input === 'number' && Number.isSafeInteger(input) && input > 0) return input;
  if (typeof input !== 'string' || !/^[1-9]\d{0,15}$/.test(input)) return null;
  const n = Number(input);
  return Number.isSafeInteger(n) ? n : null;
}

