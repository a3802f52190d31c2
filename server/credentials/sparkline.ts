// A credential's last 30 days as a picture (issue 28, point 3): an inline SVG of one bar
// a day, drawn on the server (no JavaScript), with its text alternative ("240 requests in
// the last 30 days, last 3 minutes ago") as the image's accessible name and tooltip.
import { relativeTime } from '../lib/dates.ts';
import type { CredentialUsage } from './usage.ts';

const STEP = 3; // px a day
const BAR = 2.4;
const WIDTH = 90; // 30 days
const HEIGHT = 20;
const MIDDLES = Array.from({ length: 30 }, (_, i) => String(Math.round((i * STEP + BAR / 2) * 10) / 10)); // "1.2", "4.2", …

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

// "240 requests in the last 30 days, last 3 minutes ago"; "No requests in the last 30 days".
export function usageText(u: CredentialUsage, now: number): string {
  const last = u.lastUsedAt === null ? '' : `, last ${relativeTime(u.lastUsedAt, now)}`;
  if (u.requests === 0) return `No requests in the last ${u.days.length} days${last}`;
  return `${u.requests} request${u.requests === 1 ? '' : 's'} in the last ${u.days.length} days${last}`;
}

// The SVG (already escaped: the templates include it raw). Bars scale to the busiest day;
// a day with any request is at least one pixel high, a day without none.
export function sparkline(u: CredentialUsage, now: number, alternative = usageText(u, now)): string {
  const text = escape(alternative);
  const bars = barsOf(u.days);
  return `<svg class="sparkline" role="img" aria-label="${text}" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" focusable="false"><title>${text}</title><line x1="0" y1="${HEIGHT - 0.5}" x2="${WIDTH}" y2="${HEIGHT - 0.5}"/>${bars ? `<path stroke="currentColor" stroke-width="${BAR}" d="${bars}"/>` : ''}</svg>`;
}

// One path, a bar a day, each a vertical stroke BAR wide: "M<x> 20V<top>", x the middle of
// the day's 3 px. Half the bytes of a filled rectangle per bar ("M<x> 20v-<h>h2.4v<h>z"),
// the same pixels: 25 credentials' sparklines are 6 KB less of the page.
// Kept for each array of days: usage read once serves every page shown until the next
// write (usage.ts), so a page shown again draws no bars.
const drawn = new WeakMap<readonly number[], string>();
function barsOf(days: readonly number[]): string {
  let bars = drawn.get(days);
  if (bars !== undefined) return bars;
  const max = Math.max(...days);
  bars = '';
  for (let i = 0; i < days.length; i++) {
    const n = days[i]!;
    if (n === 0) continue;
    const h = Math.max(1, Math.round((n / max) * (HEIGHT - 1)));
    bars += `M${MIDDLES[i] ?? i * STEP + BAR / 2} ${HEIGHT}V${HEIGHT - h}`;
  }
  drawn.set(days, bars);
  return bars;
}
