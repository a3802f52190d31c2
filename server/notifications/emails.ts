// Mail bodies from Eta templates in views/emails/: HTML (escaped) and plain text.
import { Eta } from 'eta';
import { viewsDir } from '../http/views.ts';

const html = new Eta({ views: viewsDir, autoEscape: true, cache: true });
const text = new Eta({ views: viewsDir, autoEscape: false, cache: true });

export function renderEmail(name: string, model: object): { html: string; text: string } {
  return { html: html.render(`/emails/${name}.html.eta`, model), text: text.render(`/emails/${name}.txt.eta`, model) };
}
