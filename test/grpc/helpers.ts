/**
 * A gRPC test client built from our own .proto file (not the server's embedded copy), with
 * promise helpers for unary calls and streams.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'grpc', 'inference.proto');

/** Decoded messages: snake_case, 64-bit integers as exact strings, oneof member names. */
const definition = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true });
const pkg = grpc.loadPackageDefinition(definition) as unknown as {
  inference: { GRPCInferenceService: new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => grpc.Client };
};

// Loosely typed messages: tests look into them field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Msg = Record<string, any>;

export interface TestClient {
  raw: grpc.Client;
  call(method: string, request: Msg, metadata?: grpc.Metadata): Promise<Msg>;
  /** Calls and returns the error (failing the test if the call succeeded). */
  fail(method: string, request: Msg): Promise<grpc.ServiceError>;
  /** Opens ModelStreamInfer, writes every request, ends, and collects every answer. */
  stream(requests: Msg[]): Promise<Msg[]>;
  close(): void;
}

export function connect(port: number): TestClient {
  const client = new pkg.inference.GRPCInferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    // as tritonclient does: no client-side limits
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const methods = client as unknown as Record<string, (...args: any[]) => any>;
  const call = (method: string, request: Msg, metadata = new grpc.Metadata()): Promise<Msg> =>
    new Promise((resolve, reject) => {
      methods[method]!.call(client, request, metadata, (err: grpc.ServiceError | null, res: Msg) => (err ? reject(err) : resolve(res)));
    });
  return {
    raw: client,
    call,
    async fail(method, request) {
      try {
        const res = await call(method, request);
        throw new Error(`${method} was expected to fail but answered ${JSON.stringify(res).slice(0, 300)}`);
      } catch (err) {
        if ((err as grpc.ServiceError).code === undefined) throw err;
        return err as grpc.ServiceError;
      }
    },
    stream(requests) {
      return new Promise((resolve, reject) => {
        const s = methods.ModelStreamInfer!.call(client) as grpc.ClientDuplexStream<Msg, Msg>;
        const answers: Msg[] = [];
        s.on('data', (m: Msg) => answers.push(m));
        s.on('error', reject);
        s.on('end', () => resolve(answers));
        for (const r of requests) s.write(r);
        s.end();
      });
    },
    close: () => client.close(),
  };
}

/** Raw little-endian bytes of a typed array (a copy, safe to keep). */
export function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

/** BYTES elements in the raw layout: uint32 LE length, then the bytes; written by hand. */
export function bytesTensor(elements: (string | Buffer)[]): Buffer {
  return Buffer.concat(elements.map((e) => {
    const b = typeof e === 'string' ? Buffer.from(e, 'utf8') : e;
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return Buffer.concat([len, b]);
  }));
}
