/**
 * `berth manifests haproxy --replica HOST:PORT...`: an HAProxy (2.6+) configuration for a fleet of
 * `berth serve` replicas on VMs or bare metal, without Kubernetes (docs/fleet.md).
 *
 * Every setting here answers a failure that was measured (reference: packaging.md §5): a replica
 * that dies mid-request (socket error → retried elsewhere), one that drains (503 → retried
 * elsewhere, never on an admin write), one that is merely busy (429 → passed to the client, the
 * replica stays UP), and inference bodies that must be buffered whole to be replayed.
 */

export interface Endpoint {
  host: string;
  port: number;
}

export interface HaproxyOptions {
  /** the replicas' HTTP (REST) endpoints, in order */
  replicas: Endpoint[];
  /** the replicas' gRPC endpoints, paired with `replicas` by position; empty = no gRPC frontend */
  grpcReplicas: Endpoint[];
  /** where the frontends listen: an address, or '*' for every IPv4 address */
  bind: string;
  port: number;
  grpcPort: number;
  /** the largest inference body HAProxy can replay on another replica, bytes (sizes tune.bufsize) */
  maxBodyBytes: number;
  /** longest wait for a replica's answer: above the worst inference time, queueing included */
  serverTimeoutMs: number;
  /** longest idle client connection (and an idle gRPC channel) */
  clientTimeoutMs: number;
  /** the request line, headers and (buffered) body must arrive within this */
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** a health check's answer must come within this */
  checkTimeoutMs: number;
  maxconn: number;
  /** a UNIX socket for `show stat` / `disable server` (level admin, mode 600) */
  statsSocket?: string;
  /** the stats page (/stats) and the Prometheus exporter (/metrics) on ADDRESS:PORT */
  statsBind?: Endpoint;
  /** where HAProxy logs each request (`stdout`, `/dev/log`, `udp@HOST:514`); undefined = no log */
  log?: string;
}

/** HAProxy's `option httplog` line, plus the X-Request-ID it sent on (captured), to find a request in the replicas' logs. */
export const LOG_FORMAT = '"%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %{+Q}r id=%[capture.req.hdr(0)]"';

export const HAPROXY_DEFAULTS = {
  bind: '*',
  port: 8000,
  grpcPort: 8001,
  // a buffer costs latency in proportion to its size (docs/fleet.md: ~+8 ms a request at 1 MiB on loopback)
  maxBodyBytes: 64 * 1024,
  serverTimeoutMs: 60_000,
  clientTimeoutMs: 60_000,
  requestTimeoutMs: 30_000,
  connectTimeoutMs: 2_000,
  checkTimeoutMs: 2_000,
  maxconn: 1000,
} as const;

/** Health checks: an UP replica that stops answering ready is out after ~0.7 s (500 ms, then 200 ms). */
export const CHECK = 'check inter 500ms fastinter 200ms downinter 1s rise 2 fall 2';
/** HAProxy's headroom for header rewrites inside a buffer (its tune.maxrewrite). */
export const MAX_REWRITE = 1024;
/** Room in the buffer for the request line and headers, beside the body. */
export const HEADER_ROOM = 16 * 1024;

/** tune.bufsize: a whole request (headers + a body of maxBodyBytes) must fit for an L7 retry to replay it. */
export function bufferSize(maxBodyBytes: number): number {
  const raw = maxBodyBytes + HEADER_ROOM + MAX_REWRITE;
  return Math.ceil(raw / 4096) * 4096;
}

/** Inference requests, the only POSTs safe to replay on another replica (they change nothing). */
const INFER_PATH = '^/v2/models/[^/]+(/versions/[^/]+)?/infer$';
const V1_PREDICT_PATH = '^/v1/models/[^/]+:predict$';
/** gRPC methods safe to replay: unary inference and reads (not the stream, not load/unload). */
export const GRPC_REPLAYABLE = ['ModelInfer', 'ServerLive', 'ServerReady', 'ModelReady', 'ServerMetadata', 'ModelMetadata', 'ModelConfig', 'ModelStatistics', 'RepositoryIndex'];

function ms(n: number): string {
  return n % 1000 === 0 ? `${n / 1000}s` : `${n}ms`;
}

/** HAProxy's address syntax: IPv6 literals need the ipv6@ prefix (the last ':' is the port's). */
export function address(e: Endpoint): string {
  return e.host.includes(':') ? `ipv6@${e.host}:${e.port}` : `${e.host}:${e.port}`;
}

function bindLine(bind: string, port: number): string {
  return bind === '*' ? `:${port}` : address({ host: bind, port });
}

export function haproxyConfig(o: HaproxyOptions, header = ''): string {
  const lines: string[] = [];
  const add = (...ls: string[]): void => void lines.push(...ls);
  if (header) add(...header.split('\n').map((l) => `# ${l}`.trimEnd()), '');
  add(
    'global',
    `    maxconn ${o.maxconn}`,
    `    # a whole inference request (body up to ${o.maxBodyBytes} bytes, headers up to ${HEADER_ROOM - 1024} bytes) fits in one buffer,`,
    '    # so a retry can replay it; costs up to 2 buffers per active connection',
    `    tune.bufsize ${bufferSize(o.maxBodyBytes)}`,
    `    tune.maxrewrite ${MAX_REWRITE}`,
  );
  if (o.statsSocket !== undefined) add(`    stats socket ${o.statsSocket} mode 600 level admin`);
  if (o.log !== undefined) add(`    log ${o.log}${o.log === 'stdout' || o.log === 'stderr' ? ' format raw' : ''} local0 info`);
  add('', 'defaults', '    mode http');
  if (o.log !== undefined) {
    // %rc in the log line counts the retries a request took
    add('    log global', `    log-format ${LOG_FORMAT}`);
  }
  add(
    `    timeout connect ${ms(o.connectTimeoutMs)}`,
    `    timeout client ${ms(o.clientTimeoutMs)}`,
    '    # above the worst inference time, queueing included: a slow answer is not a failure',
    `    timeout server ${ms(o.serverTimeoutMs)}`,
    `    timeout http-request ${ms(o.requestTimeoutMs)}`,
    '    timeout http-keep-alive 10s',
    `    timeout queue ${ms(o.connectTimeoutMs)}`,
    `    timeout check ${ms(o.checkTimeoutMs)}`,
    '    # a failed attempt goes to another replica (redispatch on every retry), at most 3 times',
    '    retries 3',
    '    option redispatch 1',
    '',
    'frontend berth_http',
    `    bind ${bindLine(o.bind, o.port)}`,
    '    option forwardfor',
    '    # a client\'s (or an upstream proxy\'s) X-Request-ID is kept; otherwise HAProxy makes one, and',
    '    # the replica logs it, and prediction capture de-duplicates a replayed request by it',
    '    unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid',
    '    http-request set-header X-Request-ID %[unique-id] unless { req.hdr(x-request-id) -m found }',
    '    http-request capture req.hdr(x-request-id) len 128',
    '    default_backend berth_http',
    '',
    'backend berth_http',
    '    balance leastconn',
    '    # the whole body before the first attempt: a retry can only replay what HAProxy still holds',
    '    option http-buffer-request',
    '    option httpchk',
    '    http-check send meth GET uri /v2/health/ready',
    '    http-check expect status 200',
    '    # retried elsewhere: a refused or reset connection, a replica that died before answering,',
    '    # one that timed out, and 503 (not ready or draining); never 429 (busy is healthy: the',
    '    # client gets it with Retry-After, and no observe layer7 marks the replica down)',
    '    retry-on conn-failure empty-response response-timeout 503',
    `    acl inference path_reg ${INFER_PATH}`,
    `    acl v1_predict path_reg ${V1_PREDICT_PATH}`,
    '    # writes other than inference (admin API, repository load/unload, feedback) are not',
    '    # replayed: only a connection that never reached a replica is retried for them',
    '    http-request disable-l7-retry unless METH_GET or inference or v1_predict',
    ...o.replicas.map((r, i) => `    server replica${i + 1} ${address(r)} ${CHECK}`),
  );
  if (o.grpcReplicas.length > 0) {
    add(
      '',
      'frontend berth_grpc',
      '    # gRPC terminated as HTTP/2 (h2c) and balanced per call, not per connection: a gRPC channel',
      '    # is one long-lived connection, which TCP passthrough would pin to one replica',
      `    bind ${bindLine(o.bind, o.grpcPort)} proto h2`,
      '    option forwardfor',
      '    unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid',
      '    http-request set-header X-Request-ID %[unique-id] unless { req.hdr(x-request-id) -m found }',
      '    http-request capture req.hdr(x-request-id) len 128',
      '    default_backend berth_grpc',
      '',
      'backend berth_grpc',
      '    balance leastconn',
      '    # no http-buffer-request here: it would hold a ModelStreamInfer stream until its buffer fills',
      '    # the replica\'s HTTP readiness, over HTTP/1.1 to its REST port, gates its gRPC port too',
      '    option httpchk',
      '    http-check send meth GET uri /v2/health/ready',
      '    http-check expect status 200',
      '    # gRPC errors travel in trailers of a 200, so only transport failures can be retried here',
      '    retry-on conn-failure empty-response response-timeout',
      `    acl replayable path ${GRPC_REPLAYABLE.map((m) => `/inference.GRPCInferenceService/${m}`).join(' ')}`,
      '    http-request disable-l7-retry unless replayable',
      ...o.grpcReplicas.map((g, i) => {
        const http = o.replicas[i]!;
        const addr = http.host === g.host ? '' : ` addr ${http.host}`;
        return `    server replica${i + 1} ${address(g)} proto h2 ${CHECK} check-proto h1${addr} port ${http.port}`;
      }),
    );
  }
  if (o.statsBind !== undefined) {
    add(
      '',
      'frontend stats',
      `    bind ${address(o.statsBind)}`,
      '    http-request use-service prometheus-exporter if { path /metrics }',
      '    stats enable',
      '    stats uri /stats',
      '    stats refresh 5s',
    );
  }
  return lines.join('\n') + '\n';
}
