/** Small HTTP helpers for tests: JSON and binary Open Inference Protocol requests. */
export async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    throw new Error(`non-JSON response ${res.status}: ${text.slice(0, 200)}`);
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Sends JSON header + blobs; returns the parsed header and the blobs of the answer. */
export async function postBinary(url: string, header: object, blobs: Uint8Array[], extraHeaders: Record<string, string> = {}): Promise<{ status: number; header: Record<string, unknown>; blobs: Buffer; headers: Headers }> {
  const json = Buffer.from(JSON.stringify(header));
  const body = Buffer.concat([json, ...blobs.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength))]);
  const res = await fetch(url, { method: 'POST', body, headers: { 'inference-header-content-length': String(json.length), ...extraHeaders } });
  const raw = Buffer.from(await res.arrayBuffer());
  const hlen = res.headers.get('inference-header-content-length');
  const n = hlen === null ? raw.length : Number(hlen);
  return { status: res.status, header: JSON.parse(raw.subarray(0, n).toString('utf8')) as Record<string, unknown>, blobs: raw.subarray(n), headers: res.headers };
}
