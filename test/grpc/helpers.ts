/**
 * A gRPC test client built from src/grpc/inference.proto, with
 * promise helpers for unary calls and streams.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/onnx/index.js';
import { IDENTITY_TYPES, writeModel } from '../helpers/models.js';

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

export function connect(port: number, options: grpc.ChannelOptions = {}): TestClient {
  const client = new pkg.inference.GRPCInferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    // as tritonclient does: no client-side limits
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
    ...options,
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

/**
 * Identity for every datatype that has a typed `contents` field (all but FP16): inputs
 * in_<type>, outputs out_<type>, shape [batch, 3]. A request in typed contents cannot carry
 * FP16, so writeIdentityAll's model cannot be fed typed.
 */
export async function writeIdentityTyped(repo: string, name = 'identity_typed'): Promise<string> {
  const types = IDENTITY_TYPES.filter(([dt]) => dt !== 'FP16');
  const graph = makeGraph({
    name,
    nodes: types.map(([dt]) => makeNode('Identity', [`in_${dt}`], [`out_${dt}`])),
    inputs: types.map(([dt, et]) => makeValueInfo(`in_${dt}`, et, ['batch', 3])),
    outputs: types.map(([dt, et]) => makeValueInfo(`out_${dt}`, et, ['batch', 3])),
  });
  return writeModel(repo, name, 1, makeModel({ graph }));
}

/** A client for grpc.health.v1.Health, from the standard health.proto's field numbers. */
export function connectHealth(port: number): { check(service: string): Promise<Msg>; close(): void } {
  const root = protobuf.parse(`syntax = "proto3"; package grpc.health.v1;
    message HealthCheckRequest { string service = 1; }
    message HealthCheckResponse { enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; } ServingStatus status = 1; }`).root;
  const req = root.lookupType('grpc.health.v1.HealthCheckRequest');
  const res = root.lookupType('grpc.health.v1.HealthCheckResponse');
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    check: (service) => new Promise((resolve, reject) => {
      client.makeUnaryRequest('/grpc.health.v1.Health/Check',
        (m: Msg) => Buffer.from(req.encode(req.fromObject(m)).finish()),
        (b: Buffer) => res.toObject(res.decode(b), { enums: String, defaults: true }) as Msg,
        { service }, (err, answer) => (err ? reject(err) : resolve(answer!)));
    }),
    close: () => client.close(),
  };
}
