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
const CONNECTION_CAP_ANSWER = `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(CONNECTION_CAP_BODY)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n${CONNECTION_CAP_BODY}`;

interface Connection {
  /** requests received whose answers have not closed */
  busy: number;
  /** when it last became idle (or opened) */
  idleSince: number;
  /** the latest request, to see whether its body is still arriving */
  req?: IncomingMessage;
}

export class HttpServerGuard {
  readonly budget: InflightBudget;
  private readonly connections = new Map<Socket, Connection>();
  private readonly leases = new WeakMap<IncomingMessage, Lease>();
  private readonly responses = new WeakMap<IncomingMessage, ServerResponse>();
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
    const server = createServer({
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // how often node checks the two timeouts above (its default, 30 s, would let a slowloris
      // connection live up to 30 s past them)
      connectionsCheckingInterval: Math.max(250, Math.min(1000, limits.headersTimeoutMs / 4)),
    }, (req, res) => {
      this.track(req, res);
      handler(req, res);
    });
    server.keepAliveTimeout = limits.keepAliveTimeoutMs;
    server.on('connection', (socket: Socket) => this.admit(socket));
    return server;
  };

  /** The request's lease on the in-flight budget, released when its response closes. */
  leaseOf(req: IncomingMessage): Lease {
    let lease = this.leases.get(req);
    if (!lease) {
      lease = this.budget.lease();
      this.leases.set(req, lease);
    }
    return lease;
  }

  /**
   * The connection closes after this answer; until then (up to LINGER_MS) the body bytes still
   * arriving are read and dropped, because closing a socket with unread input makes the kernel
   * send a reset, which can destroy the answer before the client has read it.
   */
  closeAfterAnswer(req: IncomingMessage): void {
    const res = this.responses.get(req);
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

  /** Answers count against the budget until the kernel has them; one the client does not read in time closes the connection. */
  registerAnswerAccounting(app: FastifyInstance): void {
    // node's server.close() (and fastify's closeIdleConnections) end only the connections idle
    // at that moment; one whose answer was still being written would stay open for the whole
    // keep-alive timeout and hold the drain past its deadline. End each as it goes idle.
    app.addHook('preClose', (done) => {
      this.closing = true;
      for (const [socket, conn] of this.connections) if (conn.busy === 0) socket.end();
      done();
    });
    app.addHook('onSend', (request, reply, payload, done) => {
      if (this.closing) void reply.header('connection', 'close');
      const size = typeof payload === 'string' ? Buffer.byteLength(payload) : Buffer.isBuffer(payload) ? payload.length : 0;
      // streams (model downloads, dashboard files) pace themselves by backpressure and may
      // legitimately take long: neither counted nor timed
      if (size === 0) return done(null, payload);
      this.leaseOf(request.raw).force(size);
      const res = reply.raw;
      const timer = setTimeout(() => {
        if (!res.writableFinished) res.socket?.destroy();
      }, this.limits.requestTimeoutMs);
      timer.unref();
      res.once('close', () => clearTimeout(timer));
      done(null, payload);
    });
  }

  private track(req: IncomingMessage, res: ServerResponse): void {
    this.responses.set(req, res);
    const conn = this.connections.get(req.socket);
    if (conn) {
      conn.busy++;
      conn.req = req;
    }
    res.once('close', () => {
      this.leases.get(req)?.release();
      if (conn) {
        conn.busy--;
        if (conn.busy === 0) conn.idleSince = performance.now();
        if (conn.busy === 0 && this.closing) req.socket.end();
      }
    });
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
    this.connections.set(socket, { busy: 0, idleSince: performance.now() });
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
