// The pages' Eta: the templates' own characters beyond Latin-1 are compiled into character
// references (a one-byte page string, half the work to join and encode), values are escaped
// as always and otherwise left as they are, and a browser reads the same text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createViews } from '../../server/http/views.ts';
import { tempDir } from '../helpers/temp.ts';

test('template text beyond ASCII becomes references; values are escaped, not rewritten', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'page.eta'), '<p title="“<%= it.name %>”">é <code><%= it.hint %>•••••</code> ⚠ 🔑 <%= it.name %></p>');
  const html = createViews(dir).render('/page', { name: 'Łukasz <b>', hint: 'i9B' });
  assert.equal(html, '<p title="&#8220;Łukasz &lt;b&gt;&#8221;">&#233; <code>i9B&#8226;&#8226;&#8226;&#8226;&#8226;</code> &#9888; &#128273; Łukasz &lt;b&gt;</p>');
  // Without the page's own characters the string V8 holds is one byte a character: nothing in it needs two.
  const plain = createViews(dir).render('/page', { name: 'José', hint: 'i9B' });
  assert.ok(![...plain].some((c) => c.codePointAt(0)! > 0xff), plain);
  // And with ASCII values, all of it is ASCII: sendHtml sends it as a copy of its bytes.
  const ascii = createViews(dir).render('/page', { name: 'Jose', hint: 'i9B' });
  assert.equal(Buffer.byteLength(ascii), ascii.length, ascii);
});

// sendHtml copies an ASCII page's bytes and encodes any other: what arrives is the page in
// UTF-8 either way (a Latin-1 copy of "Ł", U+0141, would arrive as "A").
test('sendHtml: an ASCII page and a page with Latin-1 and wider characters arrive as UTF-8, byte for byte', async (t) => {
  const express = (await import('express')).default;
  const { sendHtml } = await import('../../server/http/views.ts');
  const pages = ['<p>plain &#8226; ASCII</p>', '<p>José</p>', '<p>Łukasz 🔑 “x”</p>'];
  const app = express();
  app.get('/:i', (req, res) => sendHtml(res, pages[Number(req.params.i)]!));
  const server = app.listen(0, '127.0.0.1');
  t.after(() => server.close());
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as { port: number };
  for (const [i, page] of pages.entries()) {
    const res = await fetch(`http://127.0.0.1:${port}/${i}`);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.ok(bytes.equals(Buffer.from(page, 'utf8')), `${page}: ${bytes.toString('hex')}`);
    assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(page));
  }
});

test('template indentation goes, line breaks stay; a template with <pre> or <textarea> keeps every space', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'list.eta'), '<ul>\n    <li>  <%= it.a %>  </li>\n\n    <li>b</li>\n</ul>\n');
  fs.writeFileSync(path.join(dir, 'code.eta'), '<div>\n  <pre>line 1\n    indented \\\n  <%= it.a %></pre>\n</div>');
  const views = createViews(dir);
  assert.equal(views.render('/list', { a: '  x\n    y' }), '<ul>\n<li>    x\n    y  </li>\n<li>b</li>\n</ul>\n', 'values keep their spaces; spaces within a line stay');
  assert.equal(views.render('/code', { a: 'v' }), '<div>\n  <pre>line 1\n    indented \\\n  v</pre>\n</div>');
});
