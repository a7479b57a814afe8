/**
 * The node HTTP server under fastify, with what fastify leaves to it: timeouts for slow
 * clients, a connection cap that makes room by closing stalled connections (so a health probe
 * still gets in during a slowloris attack), the in-flight budget's lease per request, answers
 * counted until written, and a lingering close after refusing a body mid-way (so the client
 * reads the 413 instead of a reset).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { HttpLimits } from './limits.js';
import { InflightBudget } from './inflight-budget.js';
import type { Lease } from './inflight-budget.js';

/** After a refusal, how long unread request bytes are drained so the client sees the answer. */
const LINGER_MS = 2000;

const CONNECTION_CAP_BODY = JSON.stringify({ error: 'the server is at its connection limit (--max-connections); retry later' });
const CONNECTION_CAP_ANSWER = `HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(CONNECTION_CAP_BODY)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n${CONNECTION_CAP_BODY}`;

interface Connection {
  /** requests received whose answers have not closed */
  busy: number;
  /** when it last became idle (or opened) */
  idleSince: number;
  /** the latest request, to see whether its body is still arriving */
  req?: IncomingMessage;
  /** answers handed to node (counted by onSend) whose response has not closed */
  answering: number;
  /** when the oldest of those was handed over, or the last of them closed */
  progressAt: number;
}

/** What the guard keeps per request, on the request itself (a property is cheaper than maps). */
interface Exchange {
  res: ServerResponse;
  conn: Connection | undefined;
  lease: Lease | undefined;
  /** counted in conn.answering */
  answering: boolean;
}

const EXCHANGE = Symbol('berth.exchange');
type TrackedRequest = IncomingMessage & { [EXCHANGE]?: Exchange };

export class HttpServerGuard {
  readonly budget: InflightBudget;
  private readonly connections = new Map<Socket, Connection>();
  /** connections closed to make room, and new ones refused because all were busy */
  evicted = 0;
  refused = 0;
  /** set when the app starts closing: keep-alive connections end as their last answer does */
  private closing = false;

  constructor(readonly limits: HttpLimits) {
    this.budget = new InflightBudget(limits.maxInflightBytes);
  }

  get openConnections(): number {
    return this.connections.size;
  }

  /** fastify's serverFactory */
  readonly serverFactory = (handler: (req: IncomingMessage, res: ServerResponse) => void): Server => {
    const { limits } = this;
    // how often node checks the two timeouts below (its default, 30 s, would let a slowloris
    // connection live up to 30 s past them), and how often unread answers are looked for
    const checkEveryMs = Math.max(250, Math.min(1000, limits.headersTimeoutMs / 4));
    const server = createServer({
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: checkEveryMs,
    }, (req, res) => {
      this.track(req, res);
      handler(req, res);
    });
    server.keepAliveTimeout = limits.keepAliveTimeoutMs;
    server.on('connection', (socket: Socket) => this.admit(socket));
    // One sweep per interval instead of a timer per answer: a timer armed and cleared on every
    // request was measurable on the small model's request rate.
    const sweep = setInterval(() => this.closeUnreadAnswers(), checkEveryMs);
    sweep.unref();
    server.once('close', () => clearInterval(sweep));
    return server;
  };

  /** The request's lease on the in-flight budget, released when its response closes. */
  leaseOf(req: IncomingMessage): Lease {
    const exchange = (req as TrackedRequest)[EXCHANGE];
    // every request the server hands over is tracked; the fallback is for a request made up by
    // a caller (it holds its own lease, released by nobody but the caller)
    if (!exchange) return this.budget.lease();
    return (exchange.lease ??= this.budget.lease());
  }

  /**
   * The connection closes after this answer; until then (up to LINGER_MS) the body bytes still
   * arriving are read and dropped, because closing a socket with unread input makes the kernel
   * send a reset, which can destroy the answer before the client has read it.
   */
  closeAfterAnswer(req: IncomingMessage): void {
    const res = (req as TrackedRequest)[EXCHANGE]?.res;
    const socket = req.socket as Socket & { destroySoon?: () => void };
    if (!res || res.headersSent) return;
    res.setHeader('connection', 'close');
    res.shouldKeepAlive = false;
    socket.destroySoon = () => {
      if (socket.destroyed) return;
      socket.end();
      req.resume();
      socket.resume();
      const timer = setTimeout(() => socket.destroy(), LINGER_MS);
      timer.unref();
      socket.once('end', () => socket.destroy());
      socket.once('close', () => clearTimeout(timer));
    };
  }

  /**
   * Answers count against the budget until the kernel has them; one the client does not read in
   * time closes the connection. While `draining()` (the server's drain has begun, its readiness
   * is withdrawn) and once closing, every answer says `Connection: close`, so keep-alive clients
   * and balancers open their next connection, to another replica.
   */
  registerAnswerAccounting(app: FastifyInstance, draining?: () => boolean): void {
    // node's server.close() (and fastify's closeIdleConnections) end only the connections idle
    // at that moment; one whose answer was still being written would stay open for the whole
    // keep-alive timeout and hold the drain past its deadline. End each as it goes idle.
    app.addHook('preClose', (done) => {
      this.closing = true;
      for (const [socket, conn] of this.connections) if (conn.busy === 0) socket.end();
      done();
    });
    app.addHook('onSend', (request, reply, payload, done) => {
      if (this.closing || draining?.()) void reply.header('connection', 'close');
      const size = typeof payload === 'string' ? Buffer.byteLength(payload) : Buffer.isBuffer(payload) ? payload.length : 0;
      // streams (model downloads, dashboard files) pace themselves by backpressure and may
      // legitimately take long: neither counted nor timed
      if (size === 0) return done(null, payload);
      this.leaseOf(request.raw).force(size);
      const exchange = (request.raw as TrackedRequest)[EXCHANGE];
      const conn = exchange?.conn;
      if (exchange && conn && !exchange.answering) {
        exchange.answering = true;
        if (conn.answering++ === 0) conn.progressAt = performance.now();
      }
      done(null, payload);
    });
  }

  private track(req: IncomingMessage, res: ServerResponse): void {
    const conn = this.connections.get(req.socket);
    const exchange: Exchange = { res, conn, lease: undefined, answering: false };
    (req as TrackedRequest)[EXCHANGE] = exchange;
    if (conn) {
      conn.busy++;
      conn.req = req;
    }
    res.on('close', () => {
      exchange.lease?.release();
      if (!conn) return;
      if (exchange.answering) {
        conn.answering--;
        conn.progressAt = performance.now();
      }
      if (--conn.busy === 0) {
        conn.idleSince = performance.now();
        if (this.closing) req.socket.end();
      }
    });
  }

  /**
   * Closes connections whose answers the client has not read for --request-timeout-secs: no
   * answer handed to node has finished in that time (a client that reads slowly but steadily
   * finishes answers and is left alone; one that never reads holds them in memory).
   */
  private closeUnreadAnswers(): void {
    const now = performance.now();
    const limit = this.limits.requestTimeoutMs;
    for (const [socket, conn] of this.connections) {
      if (conn.answering > 0 && now - conn.progressAt > limit) socket.destroy();
    }
  }

  private admit(socket: Socket): void {
    if (this.connections.size >= this.limits.maxConnections) {
      const victim = this.stalledConnection();
      if (victim) {
        this.evicted++;
        victim.destroy();
        this.connections.delete(victim);
      } else {
        // every connection has a request being served: refuse this one with the overload
        // answer (a reset would read as a network fault), then close it
        this.refused++;
        socket.end(CONNECTION_CAP_ANSWER);
        setTimeout(() => socket.destroy(), LINGER_MS).unref();
        return;
      }
    }
    this.connections.set(socket, { busy: 0, idleSince: performance.now(), answering: 0, progressAt: 0 });
    socket.once('close', () => this.connections.delete(socket));
  }

  /**
   * The connection to close for a new one: the longest idle (keep-alive, or still sending its
   * headers), else the oldest whose request body is still arriving. Connections whose request
   * is being served are never chosen.
   */
  private stalledConnection(): Socket | undefined {
    let idle: Socket | undefined;
    let idleSince = Infinity;
    let sending: Socket | undefined;
    for (const [socket, conn] of this.connections) {
      if (conn.busy === 0) {
        if (conn.idleSince < idleSince) {
          idle = socket;
          idleSince = conn.idleSince;
        }
      } else if (!sending && conn.req && !conn.req.complete) {
        sending = socket;
      }
    }
    return idle ?? sending;
  }
}
