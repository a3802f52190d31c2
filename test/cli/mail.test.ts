// The operator is told the truth about mail: `send-test-mail` exits 0 only once a real SMTP
// server accepted the message (1 with the server's error, 2 on bad input or without
// SMTP_URL), in-process and once as a real process; a server started without SMTP_URL
// says at start, in one line, that mail goes to the outbox and is not sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startSmtp, header, readable } from '../helpers/smtp.ts';
import { cliInProcess } from '../helpers/cli.ts';
import { tempDir } from '../helpers/temp.ts';

test('send-test-mail: 0 when accepted, 1 with the error when refused, 2 on bad input or without SMTP_URL', async (t) => {
  const smtp = await startSmtp(t);
  const dataDir = tempDir(t);
  const env = { DATA_DIR: dataDir, BASE_URL: 'https://portal.example.org', SMTP_URL: smtp.url.replace('smtp://', 'smtp://user:hunter2@') };
  const ok = await cliInProcess(['send-test-mail', '--to', 'IT@Association.example'], env);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, `accepted by the SMTP server at ${smtp.url} for it@association.example`, 'names the server, never its password');
  assert.equal(smtp.messages.length, 1);
  assert.deepEqual(smtp.messages[0]!.to, ['it@association.example']);
  assert.equal(header(smtp.messages[0]!.raw, 'Subject'), 'Test mail from the Credentials Portal');
  assert.match(readable(smtp.messages[0]!.raw), /sent from the command line/);

  smtp.setMode('refuse');
  const refused = await cliInProcess(['send-test-mail', '--to', 'it@association.example'], env);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^send-test-mail failed: .*Mailbox unavailable/);
  smtp.setMode('accept');
  smtp.refuseRecipient('nobody@association.example');
  const noSuchUser = await cliInProcess(['send-test-mail', '--to', 'nobody@association.example'], env);
  assert.equal(noSuchUser.code, 1);
  assert.match(noSuchUser.stderr, /No such user here/);

  for (const [args, message] of [
    [['send-test-mail'], /--to is required|missing/i],
    [['send-test-mail', '--to', 'not-an-address'], /--to: Enter a valid email address/],
  ] as const) {
    const r = await cliInProcess([...args], env);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, message);
  }
  const { SMTP_URL: _, ...withoutSmtp } = env;
  const outbox = await cliInProcess(['send-test-mail', '--to', 'it@association.example'], withoutSmtp);
  assert.equal(outbox.code, 2);
  assert.match(outbox.stderr, /Mail is not sent: SMTP_URL is not set.*Set SMTP_URL to send a test mail\./);
  assert.equal(smtp.messages.length, 1, 'nothing else arrived');
});

function run(args: string[], env: Record<string, string>, until?: RegExp) {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (until?.test(out)) child.kill('SIGTERM');
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

test('as a real process: send-test-mail exits 0 once accepted', async (t) => {
  const smtp = await startSmtp(t);
  const r = await run(['server/cli/cli.ts', 'send-test-mail', '--to', 'it@association.example'], { DATA_DIR: tempDir(t), BASE_URL: 'https://portal.example.org', PORTAL_ENV: 'production', SMTP_URL: smtp.url });
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.trim(), `accepted by the SMTP server at ${smtp.url} for it@association.example`);
  assert.equal(smtp.messages.length, 1);
});

test('a server started without SMTP_URL says in one line that mail goes to the outbox and is not sent; with it, says nothing of the kind', async (t) => {
  const env = { PORT: '0', PORTAL_ENV: 'production', BASE_URL: 'http://127.0.0.1:3999' };
  const without = await run(['server/main.ts'], { ...env, DATA_DIR: tempDir(t) }, /Mail is not sent[^\n]*\n/);
  const lines = without.out.split('\n').filter((l) => l.includes('outbox'));
  assert.equal(lines.length, 1, without.out);
  assert.match(lines[0]!, /^Mail is not sent: SMTP_URL is not set, so invitations, notices and expiry reminders are written to \S+\/outbox and nobody receives them\.$/);
  const smtp = await startSmtp(t);
  const withSmtp = await run(['server/main.ts'], { ...env, DATA_DIR: tempDir(t), SMTP_URL: smtp.url }, /Credentials Portal is running at [^\n]*\n/);
  assert.match(withSmtp.out, /Credentials Portal is running at/);
  assert.doesNotMatch(withSmtp.out, /Mail is not sent/);
});
