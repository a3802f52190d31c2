// Mail bodies from Eta templates in views/emails/: HTML (escaped) and plain text. The
// text engine keeps every line break as written (no auto-trim), so "Label: value" lines
// and links stay on lines of their own in text-only clients.
import { Eta } from 'eta';
import { viewsDir } from '../http/views.ts';

let engines: { html: Eta; text: Eta } | null = null;

export function renderEmail(name: string, model: object): { html: string; text: string } {
  engines ??= { html: new Eta({ views: viewsDir(), autoEscape: true, cache: true }), text: new Eta({ views: viewsDir(), autoEscape: false, autoTrim: false, cache: true }) };
  const { html, text } = engines;
  return { html: html.render(`/emails/${name}.html.eta`, model), text: text.render(`/emails/${name}.txt.eta`, model) };
}

// One hint format in every mail: the first characters, then dots (`i9B•••••`).
export const hintOf = (hint: string) => `${hint}•••••`;
