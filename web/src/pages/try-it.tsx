/**
 * Try it: send an input to a served model and see its answer and latency, next to the same
 * model run in this browser with onnxruntime-web. The form is built from the model's input
 * signature; a digits model (one FP32 input of 64 values) gets a canvas to draw on instead.
 * Reads GET /v2/models, GET /v2/models/{m}, POST /v2/models/{m}/infer and the model file
 * (GET /api/v1/serving/models/{m}/versions/{v}/model.onnx).
 */
import { useState } from 'preact/hooks';
import { ApiError, getJson, postJson } from '../api/client';
import type { InferResponse, ModelMetadata, TensorMeta, VersionStatus } from '../api/types';
import { Empty, Loading, Problem } from '../components/states';
import { usePoll } from '../hooks/use-poll';
import { useSettings } from '../hooks/use-settings';
import { fmtBytes, fmtMs } from '../lib/format';
import { href } from '../router';
import { topAnswer, topK } from './try-it/answer';
import type { OutputLike } from './try-it/answer';
import { browserModel, runInBrowser } from './try-it/browser-runtime';
import type { InputValue } from './try-it/browser-runtime';
import { DigitCanvas } from './try-it/digit-canvas';
import { parseField, TensorForm } from './try-it/tensor-form';

/** The digits example's signature: one FP32 input of 64 values per row (8×8 pixels, 0..16). */
function isDigitsInput(inputs: TensorMeta[]): boolean {
  return inputs.length === 1 && inputs[0]!.datatype === 'FP32' && inputs[0]!.shape.length === 2 && inputs[0]!.shape[1] === 64;
}

interface ServerResult {
  version: string;
  outputs: OutputLike[];
  ms: number;
}

interface BrowserResult {
  outputs: OutputLike[];
  ms: number;
  loadMs: number;
  bytes: number;
  firstRun: boolean;
}

function Outputs({ outputs }: { outputs: OutputLike[] }) {
  const best = topK(outputs);
  return (
    <>
      {best.length > 0 && (
        <ol class="topk">
          {best.map((b) => (
            <li key={b.cls}>
              class {b.cls}: {(b.p * 100).toFixed(1)}%<span class="bar" style={{ width: `${Math.max(1, b.p * 100)}%` }} />
            </li>
          ))}
        </ol>
      )}
      <details>
        <summary>All outputs</summary>
        <pre>{outputs.map((o) => `${o.name} ${o.datatype} [${o.shape.join(', ')}]: ${JSON.stringify(o.data.length > 64 ? [...o.data.slice(0, 64), '…'] : o.data)}`).join('\n')}</pre>
      </details>
    </>
  );
}

export function TryItPage({ model }: { model?: string }) {
  const settings = useSettings();
  const list = usePoll(() => getJson<{ models: VersionStatus[] }>('/v2/models'), [], 15000);
  const names = [...new Set((list.data?.models ?? []).map((s) => s.name))].sort();
  const chosen = model && names.includes(model) ? model : model ?? names[0];
  const [version, setVersion] = useState('');
  const versions = (list.data?.models ?? []).filter((s) => s.name === chosen && s.version && s.state === 'READY').map((s) => s.version);
  const path = chosen ? `/v2/models/${encodeURIComponent(chosen)}${version ? `/versions/${encodeURIComponent(version)}` : ''}` : '';
  const meta = usePoll(async () => (path ? getJson<ModelMetadata>(path) : undefined), [path], null);
  const [pixels, setPixels] = useState<number[]>(new Array(64).fill(0));
  const [texts, setTexts] = useState<Record<string, string>>({});
  const [running, setRunning] = useState(false);
  const [invalid, setInvalid] = useState<string | null>(null);
  const [server, setServer] = useState<ServerResult | ApiError | null>(null);
  const [browser, setBrowser] = useState<BrowserResult | ApiError | string | null>(null);

  if (list.loading) return <Loading what="models" />;
  if (list.error && !list.data) return <Problem error={list.error} what="the models" />;
  if (!chosen) {
    return (
      <Empty title="No models to try">
        This server serves no model. Start one with <code>npx berth serve --example</code> (the digits model) or <code>npx berth serve model.onnx</code>.
      </Empty>
    );
  }
  const inputs = meta.data?.inputs ?? [];
  const digits = isDigitsInput(inputs);

  const run = async (): Promise<void> => {
    let values: InputValue[];
    if (digits) {
      values = [{ name: inputs[0]!.name, datatype: 'FP32', shape: [1, 64], data: pixels }];
    } else {
      const parsed = inputs.map((m) => parseField(m, texts[m.name] ?? ''));
      const bad = parsed.find((p): p is string => typeof p === 'string');
      if (bad) {
        setInvalid(bad);
        return;
      }
      values = parsed as InputValue[];
    }
    setInvalid(null);
    setRunning(true);
    setServer(null);
    setBrowser(null);
    let answeredBy = version;
    try {
      const started = performance.now();
      const res = await postJson<InferResponse>(`${path}/infer`, { inputs: values });
      const ms = performance.now() - started;
      answeredBy = res.model_version;
      setServer({ version: res.model_version, outputs: res.outputs, ms });
    } catch (err) {
      setServer(err instanceof ApiError ? err : new ApiError({ kind: 'http', url: path, status: 0, message: String(err) }));
    }
    try {
      // the version the server answered with, so both sides run the same file
      const target = answeredBy || meta.data?.versions.at(-1) || '1';
      const m = await browserModel(settings.baseUrl, chosen, target);
      const firstRun = m.runs === 0;
      const out = await runInBrowser(m, values);
      setBrowser({ outputs: out.outputs, ms: out.ms, loadMs: m.loadMs, bytes: m.bytes, firstRun });
    } catch (err) {
      setBrowser(err instanceof ApiError ? err : `the browser could not run the model: ${(err as Error).message}`);
    } finally {
      setRunning(false);
    }
  };

  const serverOk = server && !(server instanceof ApiError) ? server : null;
  const browserOk = browser && typeof browser !== 'string' && !(browser instanceof ApiError) ? browser : null;
  const serverAnswer = serverOk ? topAnswer(serverOk.outputs) : null;
  const browserAnswer = browserOk ? topAnswer(browserOk.outputs) : null;

  return (
    <section>
      <div class="page-head">
        <h1>Try it</h1>
        <label class="inline">
          model{' '}
          <select value={chosen} data-testid="model-select" onChange={(e) => (window.location.hash = href({ page: 'try', model: e.currentTarget.value }))}>
            {names.map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </label>
        <label class="inline">
          version{' '}
          <select value={version} onChange={(e) => setVersion(e.currentTarget.value)}>
            <option value="">as routed (production / canary)</option>
            {versions.map((v) => <option key={v} value={v}>v{v}</option>)}
          </select>
        </label>
      </div>
      {meta.error && <Problem error={meta.error} what={`the signature of ${chosen}`} />}
      {meta.loading && <Loading what="the model's signature" />}
      {meta.data && (
        <div class="try-grid">
          <div class="panel">
            <h2>Input</h2>
            {digits ? (
              <>
                <p class="muted">Draw a digit (0–9) with the mouse, large and centred, then press Predict.</p>
                <DigitCanvas onChange={setPixels} />
              </>
            ) : (
              <TensorForm inputs={inputs} texts={texts} onChange={(name, text) => setTexts({ ...texts, [name]: text })} />
            )}
            <div class="button-row">
              <button type="button" data-testid="predict-button" disabled={running} onClick={() => void run()}>{running ? 'Running…' : 'Predict'}</button>
            </div>
            {invalid && <p class="bad-text">{invalid}</p>}
          </div>
          <div class="panel" data-testid="server-result">
            <h2>Server</h2>
            {!server && <p class="muted">berth's answer over HTTP (POST {path}/infer).</p>}
            {server instanceof ApiError && <Problem error={server} what="the server's answer" />}
            {serverOk && (
              <>
                <p class="answer">
                  <span data-testid="server-answer">{serverAnswer?.value ?? '—'}</span>
                  <small>{serverAnswer ? serverAnswer.from : 'no class output'}</small>
                </p>
                <p>
                  v{serverOk.version} · round trip <strong data-testid="server-ms">{fmtMs(serverOk.ms)}</strong> <span class="muted">(HTTP, JSON, queue and inference)</span>
                </p>
                <Outputs outputs={serverOk.outputs} />
              </>
            )}
          </div>
          <div class="panel" data-testid="browser-result">
            <h2>In this browser</h2>
            {!browser && <p class="muted">The same model file, run here by onnxruntime-web (WebAssembly, one thread).</p>}
            {browser instanceof ApiError && <Problem error={browser} what="the model file" />}
            {typeof browser === 'string' && <p class="bad-text">{browser}</p>}
            {browserOk && (
              <>
                <p class="answer">
                  <span data-testid="browser-answer">{browserAnswer?.value ?? '—'}</span>
                  <small>{browserAnswer ? browserAnswer.from : 'no class output'}</small>
                </p>
                <p>
                  inference <strong data-testid="browser-ms">{fmtMs(browserOk.ms)}</strong>
                  <span class="muted"> · model {fmtBytes(browserOk.bytes)}, downloaded and loaded in {fmtMs(browserOk.loadMs)}{browserOk.firstRun ? ' (this time)' : ' (earlier)'}</span>
                </p>
                <Outputs outputs={browserOk.outputs} />
              </>
            )}
          </div>
        </div>
      )}
      {serverAnswer && browserAnswer && (
        <p class={`agreement ${serverAnswer.value === browserAnswer.value ? 'ok-text' : 'bad-text'}`} data-testid="agreement">
          {serverAnswer.value === browserAnswer.value ? `Both answer ${serverAnswer.value}.` : `They disagree: the server says ${serverAnswer.value}, the browser ${browserAnswer.value}.`}
        </p>
      )}
    </section>
  );
}
