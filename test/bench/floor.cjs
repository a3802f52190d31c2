// The floor for the token endpoint, in plain node:http (no TypeScript loader, no framework):
// exactly what the endpoint must do at the least. It reads the form body, signs one ES256
// JWT with the same header and the same claim set (fresh iat, exp and jti each time), and
// answers the same JSON body with the same headers. It does not parse the form,
// authenticate the client, check limits or choose the audience: that work is the
// endpoint's own overhead, which the bench reports as the ratio to this floor.
//   node test/bench/floor.cjs PORT ISSUER
// With KEYS (a JSON file of kid → SPKI PEM), the floor of private_key_jwt: it also takes
// client_assertion from the form, decodes its header and claims, verifies its ES256
// signature with the key its kid names and remembers its jti, before signing the token.
// It checks no claim and no limit: what the endpoint does beyond is its overhead.
//   node test/bench/floor.cjs PORT ISSUER KEYS
const http = require('node:http');
const crypto = require('node:crypto');

const [port, issuer, keysFile] = process.argv.slice(2);
const publicKeys = new Map(Object.entries(keysFile ? JSON.parse(require('node:fs').readFileSync(keysFile, 'utf8')) : {}).map(([kid, pem]) => [kid, crypto.createPublicKey(pem)]));
const used = new Set();
const fromB64url = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

// The assertion's verification, or false (also for one that does not decode).
function verified(body) {
  try {
    const assertion = new URLSearchParams(body).get('client_assertion') ?? '';
    const parts = assertion.split('.');
    const head = fromB64url(parts[0]);
    const claims = fromB64url(parts[1]);
    const key = publicKeys.get(head.kid);
    if (!key || used.has(claims.jti)) return false;
    const ok = crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'));
    if (ok) used.add(claims.jti);
    return ok;
  } catch {
    return false;
  }
}
const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const b64url = (s) => Buffer.from(s, 'utf8').toString('base64url');
const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: crypto.randomBytes(12).toString('base64url') }));
const clientId = crypto.randomUUID();
const secretId = crypto.randomUUID();
const aud = ['https://api.example.org/dm', 'https://api.example.org/smc']; // the bench's grants
const scope = 'DM SMC';
const lifetime = 3600;

http
  .createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (keysFile && req.method === 'GET') return res.end('ready');
      if (keysFile && !verified(body)) {
        res.writeHead(401, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
        return res.end('{"error":"invalid_client"}');
      }
      const iat = Math.floor(Date.now() / 1000);
      const claims = { iss: issuer, sub: clientId, client_id: clientId, aud, scope, iat, exp: iat + lifetime, jti: crypto.randomUUID(), secret_id: secretId };
      const input = `${header}.${b64url(JSON.stringify(claims))}`;
      const token = `${input}.${crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
      const json = JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: lifetime, scope });
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json), 'Cache-Control': 'no-store', Pragma: 'no-cache' });
      res.end(json);
    });
  })
  .listen(Number(port), '127.0.0.1');
