// The soak's and the drill's portal: a real server process (node with the tsx loader, as
// `make run` starts it), its log lines handed to a listener as they come, and plain
// node:http requests to it on keep-alive sockets with a deadline.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { waitFor } from './proc.ts';

export interface PortalProcess {
  child: ChildProcess;
  baseUrl: string;
  exited: Promise<number | null>;
}

// Starts `server/main.ts` with `env` and waits for /healthz; `onLine` gets every line it
// writes (stdout and stderr).
export async function startPortalProcess(env: NodeJS.ProcessEnv, onLine: (line: string) => void = () => {}, nodeArgs: string[] = []): Promise<PortalProcess> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'server/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      for (const line of lines) onLine(line);
    });
  }
  const baseUrl = env.BASE_URL!;
  await waitFor(`${baseUrl}/healthz`, child);
  return { child, baseUrl, exited };
}

// Lines of /proc/PID/status in MiB: VmRSS (all of RSS), and RSS by kind: RssAnon (heaps:
// V8's and malloc's), RssFile (code, mapped files), RssShmem (SQLite's WAL index).
function statusMiB(pid: number, name: string, status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')): number {
  const kb = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
  if (kb === undefined) throw new Error(`/proc/${pid}/status has no ${name} line`);
  return Number(kb) / 1024;
}

export function rssMiB(pid: number): number {
  return statusMiB(pid, 'VmRSS');
}

export function rssParts(pid: number): { anon: number; file: number; shmem: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return { anon: statusMiB(pid, 'RssAnon', status), file: statusMiB(pid, 'RssFile', status), shmem: statusMiB(pid, 'RssShmem', status) };
}

export type Answer = { status: number; body: string; ms: number } | { error: string; ms: number };

// One request; an answer, or the error that stood for one (refused, reset, past the deadline).
export function send(agent: http.Agent, baseUrl: string, method: string, path: string, headers: Record<string, string>, body = '', deadlineMs = 10_000): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = http.request(`${baseUrl}${path}`, { method, agent, headers: body ? { ...headers, 'Content-Length': String(Buffer.byteLength(body)) } : headers, timeout: deadlineMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text, ms: performance.now() - started }));
      res.on('error', (e) => resolve({ error: `after headers: ${e.message}`, ms: performance.now() - started }));
    });
    req.on('timeout', () => req.destroy(new Error('deadline')));
    // A reset of a socket kept alive from an earlier request is told apart: the server may
    // have closed it as this request was sent (an idle keep-alive race), not in answer to it.
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: `${e.code ?? e.message}${req.reusedSocket ? ' (reused socket)' : ''}`, ms: performance.now() - started }));
    req.end(body);
  });
}

export const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
