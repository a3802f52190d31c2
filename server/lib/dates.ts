// Calendar arithmetic in the portal's time zone. A secret's expiry is a date; it
// works until that date ends in PORTAL_TIMEZONE.

// Intl.DateTimeFormat is expensive to build (a profile of the credentials page showed
// it as the largest cost): one per (purpose, zone), built once and reused.
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(kind: 'date' | 'parts' | 'display' | 'displayTime', timeZone: string): Intl.DateTimeFormat {
  const key = `${kind} ${timeZone}`;
  let f = formatters.get(key);
  if (!f) {
    f =
      kind === 'date'
        ? new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
        : kind === 'parts'
          ? new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
          : kind === 'display'
            ? new Intl.DateTimeFormat('en-GB', { timeZone, day: 'numeric', month: 'short', year: 'numeric' })
            : new Intl.DateTimeFormat('en-GB', { timeZone, day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(key, f);
  }
  return f;
}

// YYYY-MM-DD of an instant, as seen in the zone. Pages ask for the same minutes on every
// view (today, when each secret was created): each minute is formatted once, until 20,000
// are held. Since 1972 every zone's offset is a whole number of minutes and its changes
// fall on whole minutes, so a date never changes inside a UTC minute; earlier instants
// (odd local mean time offsets) are formatted each time.
const WHOLE_MINUTE_OFFSETS_FROM = Date.UTC(1972, 0, 1);
// `format(ms)` remembered by UTC minute, per zone, in `cache` (at most 20,000 minutes a zone).
function byMinute(cache: Map<string, Map<number, string>>, ms: number, timeZone: string, format: (ms: number) => string): string {
  if (ms < WHOLE_MINUTE_OFFSETS_FROM) return format(ms);
  let known = cache.get(timeZone);
  if (!known) cache.set(timeZone, (known = new Map()));
  const minute = Math.floor(ms / 60_000);
  let shown = known.get(minute);
  if (shown === undefined) {
    if (known.size >= 20_000) known.clear();
    known.set(minute, (shown = format(ms)));
  }
  return shown;
}
const dated = new Map<string, Map<number, string>>();
export function dateInZone(ms: number, timeZone: string): string {
  return byMinute(dated, ms, timeZone, (at) => formatter('date', timeZone).format(at));
}

export function isValidDateString(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

export function addMonths(date: string, months: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const target = new Date(Date.UTC(y, m - 1 + months, 1));
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(d, lastDay));
  return target.toISOString().slice(0, 10);
}

export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
}

// Offset of the zone from UTC at an instant, in milliseconds.
function zoneOffset(ms: number, timeZone: string): number {
  const parts = formatter('parts', timeZone).formatToParts(ms);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return asUtc - Math.floor(ms / 1000) * 1000;
}

// The instant at which the given date starts (local midnight) in the zone.
export function startOfDateInZone(date: string, timeZone: string): number {
  const naive = Date.parse(`${date}T00:00:00Z`);
  let guess = naive - zoneOffset(naive, timeZone);
  guess = naive - zoneOffset(guess, timeZone); // settle across a DST change
  return guess;
}

// The first instant after the date has ended in the zone: the secret stops working here.
export function endOfDateInZone(date: string, timeZone: string): number {
  return startOfDateInZone(addDays(date, 1), timeZone);
}

// The one date format people see, everywhere (pages, mails, hints, errors): 9 Mar 2028.
// Pages show the same few hundred dates over and over: each is formatted once.
const displayed = new Map<string, string>();
export function formatDate(date: string): string {
  let shown = displayed.get(date);
  if (shown === undefined) {
    shown = formatter('display', 'UTC').format(Date.parse(`${date}T00:00:00Z`));
    if (displayed.size >= 5000) displayed.clear();
    displayed.set(date, shown);
  }
  return shown;
}

// An instant for people, labelled with the zone it is shown in: 9 Mar 2028, 14:05 (UTC).
// Shown to the minute, so each minute is formatted once (as dateInZone), until 20,000 are
// held: the credentials page shows each credential's last use, and most are the same few.
const timed = new Map<string, Map<number, string>>();
export function formatDateTime(ms: number, timeZone: string): string {
  return byMinute(timed, ms, timeZone, (at) => `${formatter('displayTime', timeZone).format(at)} (${timeZone})`);
}

export function relativeTime(ms: number, now: number): string {
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  const units: Array<[number, string]> = [
    [86_400, 'day'],
    [3_600, 'hour'],
    [60, 'minute'],
  ];
  for (const [size, name] of units) {
    if (seconds >= size) {
      const n = Math.floor(seconds / size);
      return `${n} ${name}${n === 1 ? '' : 's'} ago`;
    }
  }
  return 'just now';
}
