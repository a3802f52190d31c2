// The account page over real HTTP (issue 27, point 7): sessions named by their browser,
// new recovery codes first on the page, and passkeys at a BASE_URL that is an IP address
// (the test portal's 127.0.0.1) refused with the reason, on the page and by the endpoints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPortal } from '../helpers/portal.ts';
import { createAdmin, nextCode, signIn } from '../helpers/accounts.ts';
import { decodeHtml, type Client } from '../helpers/http.ts';
import { browserName } from '../../server/account/browser-name.ts';
import { passkeysUnavailable } from '../../server/account/passkeys.ts';

const CHROME_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1';

test('browserName: the family, major version and system people recognise', () => {
  const cases: Array<[string, string]> = [
    [CHROME_WINDOWS, 'Chrome 131 on Windows'],
    [`${CHROME_WINDOWS} Edg/131.0.2903.86`, 'Edge 131 on Windows'],
    [`${CHROME_WINDOWS} OPR/114.0.0.0`, 'Opera 114 on Windows'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15', 'Safari 17.6 on macOS'],
    [SAFARI_IPHONE, 'Safari 17.6 on iOS'],
    ['Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1', 'Safari 17.6 on iPadOS'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1', 'Chrome 131 on iOS'],
    ['Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0', 'Firefox 133 on Linux'],
    ['Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36', 'Samsung Internet 26 on Android'],
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36', 'Chrome 131 on Android'],
    ['Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', 'Chrome 131 on ChromeOS'],
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36', 'Chrome 131 on Linux'],
    ['curl/8.5.0', 'curl 8.5'],
    ['python-requests/2.31.0', 'python-requests 2.31'],
    ['node', 'node'],
    ['', 'Unknown browser'],
    ['   ', 'Unknown browser'],
  ];
  for (const [ua, name] of cases) assert.equal(browserName(ua), name, ua || '(empty)');
});

// Signs in with the given User-Agent on every request, as that browser would.
async function signInAs(portal: Awaited<ReturnType<typeof startPortal>>, account: Awaited<ReturnType<typeof createAdmin>>, userAgent: string): Promise<Client> {
  const c = portal.client();
  const request = c.request.bind(c);
  c.request = (method, path, init = {}) => request(method, path, { ...init, headers: { 'User-Agent': userAgent, ...init.headers } });
  return signIn(portal, account, c);
}

test('the sessions table names each browser ("Chrome 131 on Windows"), with its User-Agent kept as the title', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const here = await signInAs(portal, account, CHROME_WINDOWS);
  await signInAs(portal, account, SAFARI_IPHONE);
  const page = decodeHtml((await here.get('/account')).text);
  const table = page.slice(page.indexOf('Where you are signed in'), page.indexOf('End all other sessions'));
  assert.ok(table.includes(`<td data-label="Browser"><span title="${CHROME_WINDOWS}">Chrome 131 on Windows</span></td>`), 'this browser');
  assert.ok(table.includes(`<td data-label="Browser"><span title="${SAFARI_IPHONE}">Safari 17.6 on iOS</span></td>`), 'the phone');
});

test('new recovery codes come first on the account page, their heading focused, with Copy and Download', async (t) => {
  const portal = await startPortal(t);
  const account = await createAdmin(portal);
  const c = await signIn(portal, account);
  await c.get('/account');
  const wrong = await c.post('/account/recovery-codes', { code: '000000' });
  assert.equal(wrong.status, 401);
  assert.match(wrong.text, /id="codes-code" name="code" type="text" value="" required aria-describedby="codes-code-error" aria-invalid="true" autocomplete="one-time-code" autofocus>/, 'a wrong code: the field has the focus');
  const r = await c.post('/account/recovery-codes', { code: nextCode(portal, account.key) });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const html = decodeHtml(r.text);
  const codes = html.indexOf('<h2 id="new-codes-title" tabindex="-1" autofocus>Your new recovery codes</h2>');
  assert.ok(codes > 0, 'a heading that takes the focus');
  assert.ok(codes < html.indexOf('id="password-title"'), 'before the password card');
  assert.equal([...html.matchAll(/<li><code>[a-z0-9]{5}-[a-z0-9]{5}<\/code><\/li>/g)].length, 10);
  assert.ok(html.includes('<button type="button" class="button js-only" data-copy-target="recovery-codes-list">Copy codes</button>'));
  assert.ok(html.includes(`data-download-target="recovery-codes-list" data-download-name="recovery-codes.txt" data-download-heading="Credentials Portal recovery codes for ${account.email}">Download (.txt)</button>`));
  assert.match(html, /10 of 10 recovery codes left\./, 'the card below says how many are left');
});

test('at a BASE_URL that is an IP address the account page says why passkeys are unavailable, and the endpoints refuse with the same reason', async (t) => {
  const portal = await startPortal(t);
  const reason = 'Passkeys are not available at this address: browsers accept passkeys only at a domain name (such as portal.example.org), and this portal is reached at the IP address 127.0.0.1. Use your password and authenticator app.';
  assert.equal(passkeysUnavailable(portal.baseUrl), reason);
  assert.match(passkeysUnavailable('http://[::1]:3000')!, /the IP address ::1\./);
  assert.equal(passkeysUnavailable('https://portal.example.org'), null);
  assert.equal(passkeysUnavailable('http://localhost:3000'), null);
  const account = await createAdmin(portal);
  const c = await signIn(portal, account);
  const page = decodeHtml((await c.get('/account')).text);
  assert.ok(page.includes(`<p class="warning" id="passkeys-unavailable">${reason}</p>`));
  assert.ok(!page.includes('data-add-passkey'), 'no form that cannot work');
  for (const path of ['/account/passkeys/options', '/login/passkey/options']) {
    const r = await c.request('POST', path, { body: JSON.stringify({ name: 'Laptop', proof: 'x' }), headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': c.csrf } });
    assert.equal(r.status, 409, path);
    assert.deepEqual(JSON.parse(r.text), { error: 'invalid_request', error_description: reason }, path);
  }
});
