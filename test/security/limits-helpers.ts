/** Shared by the limits tests (decompression bombs, in-flight budget, slow clients): raw sockets and a health prober. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { quantileAtFloorIndex, sortedNumbers } from '../../src/util/stats.js';

/** Resident memory now, bytes (Linux). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

export const MiB = 1024 * 1024;

/** Samples a process's resident memory every 20 ms until stopped; returns the largest growth over the first sample. */
export function rssSampler(pid: number): { stop(): number } {
  const base = rssBytes(pid);
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 20);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssBytes(pid)) - base;
    },
  };
}

/**
 * A gzip body of `members` concatenated members, each 16 MiB of zeros (~16 KiB compressed): a
 * valid multi-member gzip stream (RFC 1952 §2.2) that inflates to members × 16 MiB.
 */
export function gzipBomb(members: number): Buffer<ArrayBuffer> {
  const member = gzipSync(Buffer.alloc(16 * MiB), { level: 9 });
  return Buffer.concat(Array.from({ length: members }, () => member));
}

/**
 * Probes `path` with a new connection every `everyMs` until stopped, from a separate process (so
 * that the test's own load generation does not delay the probes); each probe times out at 5 s.
 */
export function healthProber(baseUrl: string, path = '/v2/health/live', everyMs = 50): { stop(): Promise<{ latencies: number[]; failures: string[] }> } {
  const { hostname, port } = new URL(baseUrl);
  const script = `
    const http = require('node:http');
    const agent = new http.Agent({ keepAlive: false });
    const latencies = [], failures = [];
    let stopped = false;
    process.stdin.on('data', () => (stopped = true));
    (async () => {
      while (!stopped) {
        const t0 = performance.now();
        await new Promise((resolve) => {
          const req = http.get({ hostname: ${JSON.stringify(hostname)}, port: ${Number(port)}, path: ${JSON.stringify(path)}, agent, timeout: 5000 }, (res) => {
            res.resume();
            res.on('end', () => { if (res.statusCode !== 200) failures.push('status ' + res.statusCode); resolve(); });
          });
          req.on('timeout', () => req.destroy(new Error('timeout')));
          req.on('error', (err) => { failures.push(err.message); resolve(); });
        });
        latencies.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, ${everyMs}));
      }
      process.stdout.write(JSON.stringify({ latencies, failures }));
      process.exit(0);
    })();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit');
  return {
    async stop() {
      child.stdin!.write('stop\n');
      await exited;
      return JSON.parse(out) as { latencies: number[]; failures: string[] };
    },
  };
}

/** Element ⌊p·n⌋ of the sorted values (clamped); 0 for none. */
export function percentile(values: number[], p: number): number {
  return values.length === 0 ? 0 : quantileAtFloorIndex(sortedNumbers(values), p);
}

export interface RawAnswer {
  /** everything the server sent */
  text: string;
  status: number;
  /** the parsed JSON body, when there was one */
  json?: Record<string, unknown>;
  /** a socket error seen by the client (EPIPE, ECONNRESET), if any */
  error?: string;
  /** bytes of the body the client managed to send */
  sent: number;
  /** bytes of the body sent when the first byte of the answer arrived */
  sentAtAnswer?: number;
}

/**
 * Sends a request head and then up to `bodyBytes` of body (framed by Content-Length or
 * chunked), as fast as the server reads, and collects what comes back until the server closes.
 */
export function rawRequest(baseUrl: string, head: string, bodyBytes: number, chunked: boolean, timeoutMs = 20000): Promise<RawAnswer> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    let text = '';
    let error: string | undefined;
    let sent = 0;
    let sentAtAnswer: number | undefined;
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    const timer = setTimeout(() => socket.destroy(new Error('client timeout')), timeoutMs);
    socket.on('data', (d: Buffer) => {
      sentAtAnswer ??= sent;
      text += d.toString('latin1');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message));
    socket.on('close', () => {
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const bodyText = text.slice(text.indexOf('\r\n\r\n') + 4);
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(bodyText) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      resolve({ text, status, json, error, sent, sentAtAnswer });
    });
    socket.write(head);
    const pump = (): void => {
      while (sent < bodyBytes && !socket.destroyed) {
        sent += chunk.length;
        const framed = chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk;
        if (!socket.write(framed)) {
          socket.once('drain', pump);
          return;
        }
      }
      if (chunked && !socket.destroyed) socket.write('0\r\n\r\n');
    };
    pump();
  });
}
