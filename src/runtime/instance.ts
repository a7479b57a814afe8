/**
 * A model instance: one worker thread holding one onnxruntime session. Requests are matched
 * to replies by id; if the worker dies, every request in flight is rejected (500), never left
 * hanging, and the owner is told so it can start a replacement.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FromWorker, OpsetUpgrade, RequestTexts, TextPlan, ToWorker, WireTensor, WireValueMetadata } from './wire.js';
import { transferList } from './wire.js';
import type { SessionWorkerData } from './session-worker.js';
import type { SaturationRisk } from './int8-saturation.js';
import { BerthError, internal } from '../core/errors.js';
import { elementCount } from '../core/tensor.js';

// Under tsx (tests, dev) this module is .ts and so is its sibling; from dist both are .js.
const WORKER_FILE = fileURLToPath(new URL(`./session-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

// Under tsx the worker is TypeScript too, and Node 20 does not carry tsx's loader hooks into
// worker threads: start it through a tiny ESM bootstrap that registers tsx first.
function spawnWorker(workerData: SessionWorkerData): Worker {
  const options = { workerData, stdout: false, stderr: false };
  if (!WORKER_FILE.endsWith('.ts')) return new Worker(WORKER_FILE, options);
  const bootstrap = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(WORKER_FILE).href)}); });`;
  // The bootstrap registers tsx itself; an inherited `--import tsx` would load it twice per worker.
  const execArgv: string[] = [];
  for (let i = 0; i < process.execArgv.length; i++) {
    const arg = process.execArgv[i]!;
    if ((arg === '--import' || arg === '--loader') && /tsx/.test(process.execArgv[i + 1] ?? '')) i++;
    else if (!/^--(import|loader)=.*tsx/.test(arg)) execArgv.push(arg);
  }
  return new Worker(bootstrap, { ...options, eval: true, execArgv });
}

export interface InstanceSignature {
  inputs: WireValueMetadata[];
  outputs: WireValueMetadata[];
  /** set when an old model was upgraded in memory to load */
  upgrade?: OpsetUpgrade;
  /** full-range int8 weights this CPU's u8s8 kernels can saturate (only when checkInt8 was asked) */
  int8Risk?: SaturationRisk;
}

/**
 * A run's outputs, and the JSON text the worker rendered for the batch's requests (if asked):
 * either with the outputs, or (large answers) still coming, as promises that never reject.
 */
export interface RunResult {
  outputs: WireTensor[];
  texts?: (RequestTexts | Promise<RequestTexts>)[];
}

interface Pending {
  resolve: (result: RunResult) => void;
  reject: (err: BerthError) => void;
  /** how many requests the batch's text plan has */
  requests: number;
}

/** The texts of a run still being rendered after its outputs came back. */
type TextStream = ((text: RequestTexts) => void)[];

export class WorkerInstance {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private readonly textStreams = new Map<number, TextStream>();
  private nextId = 1;
  private exited = false;
  /** Resolves with the model's signature once the session is created. */
  readonly ready: Promise<InstanceSignature>;
  /** Called once if the worker dies unexpectedly (not after close()). */
  onCrash?: (reason: string) => void;
  private closing = false;

  constructor(options: SessionWorkerData) {
    this.worker = spawnWorker(options);
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (message: FromWorker): void => {
        if (message.kind === 'ready') resolve({ inputs: message.inputs, outputs: message.outputs, upgrade: message.upgrade, int8Risk: message.int8Risk });
        else if (message.kind === 'load-error') reject(new Error(message.message));
        else this.settle(message);
      };
      this.worker.on('message', onMessage);
      this.worker.on('error', (err) => {
        reject(err);
        this.fail(`model instance crashed: ${err.message}`);
      });
      this.worker.on('exit', (code) => {
        reject(new Error(`model instance exited with code ${code} while loading`));
        this.fail(`model instance exited with code ${code}`);
      });
    });
    // A rejected ready promise nobody awaits must not crash the process.
    this.ready.catch(() => undefined);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  get alive(): boolean {
    return !this.exited;
  }

  run(feeds: WireTensor[], outputNames?: string[], text?: TextPlan): Promise<RunResult> {
    if (this.exited) return Promise.reject(internal('model instance is not running'));
    const id = this.nextId++;
    const message: ToWorker = { kind: 'run', id, feeds, outputNames, text };
    // postMessage drops a message whose transfer list holds a detached buffer without a word:
    // a tensor already handed to a worker must fail here, not leave its caller waiting forever.
    const detached = feeds.find((f) => !Array.isArray(f.data) && f.data.byteLength === 0 && elementCount(f.dims) > 0);
    if (detached) return Promise.reject(internal(`input '${detached.name}' was already handed to a model instance (its buffer is detached)`));
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, requests: text?.rows.length ?? 0 });
      this.worker.postMessage(message, transferList(feeds));
    });
  }

  /**
   * Stops the worker once it has answered everything in flight. No terminate() fallback:
   * terminating a thread inside onnxruntime's native run() aborts the whole process.
   */
  async close(): Promise<void> {
    if (this.exited) return;
    this.closing = true;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    const message: ToWorker = { kind: 'close' };
    this.worker.postMessage(message);
    await exited;
  }

  /** Fault injection: the worker dies with an uncaught error on its next run. */
  crashOnNextRun(): void {
    const message: ToWorker = { kind: 'crash-on-next-run' };
    this.worker.postMessage(message);
  }

  private settle(message: FromWorker): void {
    if (message.kind === 'texts') {
      this.receiveTexts(message.id, message.from, message.texts);
      return;
    }
    if (message.kind !== 'result' && message.kind !== 'error') return;
    const entry = this.pending.get(message.id);
    if (!entry) return;
    this.pending.delete(message.id);
    if (message.kind === 'error') {
      entry.reject(internal(`inference failed: ${message.message}`));
      return;
    }
    if (!message.textsFollow) {
      entry.resolve({ outputs: message.outputs, texts: message.texts });
      return;
    }
    const stream: TextStream = [];
    const texts = Array.from({ length: entry.requests }, (_, i) => new Promise<RequestTexts>((resolve) => {
      stream[i] = resolve;
    }));
    this.textStreams.set(message.id, stream);
    entry.resolve({ outputs: message.outputs, texts });
  }

  private receiveTexts(id: number, from: number, texts: RequestTexts[]): void {
    const stream = this.textStreams.get(id);
    if (!stream) return;
    texts.forEach((text, k) => stream[from + k]?.(text));
    if (from + texts.length >= stream.length) this.textStreams.delete(id);
  }

  private fail(reason: string): void {
    if (this.exited) return;
    this.exited = true;
    const err = internal(`${reason}; the request was aborted`);
    for (const entry of this.pending.values()) entry.reject(err);
    this.pending.clear();
    // Texts that will not come: the front end renders those answers from the tensors.
    for (const stream of this.textStreams.values()) for (const resolve of stream) resolve(undefined);
    this.textStreams.clear();
    if (!this.closing) this.onCrash?.(reason);
  }
}
