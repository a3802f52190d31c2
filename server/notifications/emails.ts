// Mail bodies from Eta templates in views/emails/: HTML (escaped) and plain text.
import { Eta } from 'eta';
import { viewsDir } from '../http/views.ts';

let engines: { html: Eta; text: Eta } | null = null;

export function renderEmail(name: string, model: object): { html: string; text: string } {
  engines ??= { html: new Eta({ views: viewsDir(), autoEscape: true, cache: true }), text: new Eta({ views: viewsDir(), autoEscape: false, cache: true }) };
  const { html, text } = engines;
  return { html: html.render(`/emails/${name}.html.eta`, model), text: text.render(`/emails/${name}.txt.eta`, model) };
}
