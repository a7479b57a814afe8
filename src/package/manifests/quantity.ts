/**
 * Kubernetes resource quantities ("500m", "2Gi", "1.5", "1e3"), checked before they reach a
 * manifest: the API server would refuse a bad one only at `kubectl apply` time, far from the flag
 * that caused it.
 */

/**
 * The quantity grammar of k8s.io/apimachinery (resource.Quantity), as CRDs' openAPIV3Schema
 * spell it: a signed decimal, then a binary suffix (Ki…Ei), a decimal suffix (n u m k M G T P E)
 * or a decimal exponent.
 */
export const QUANTITY_PATTERN = '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';
const QUANTITY = new RegExp(QUANTITY_PATTERN);

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** The quantity's value in base units (cores, bytes), or undefined when it is not a quantity. */
export function quantityValue(text: string): number | undefined {
  if (!QUANTITY.test(text)) return undefined;
  const m = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)$/.exec(text)!;
  const number = Number(m[1]);
  const suffix = m[2]!;
  if (suffix === '') return number;
  if (suffix in BINARY) return number * BINARY[suffix]!;
  if (suffix in DECIMAL) return number * DECIMAL[suffix]!;
  return number * 10 ** Number(suffix.slice(1)); // an exponent: e3, E-2
}

/** A CPU quantity of at least one millicore ("250m", "2"). */
export function cpuQuantity(flag: string, text: string): string {
  const v = quantityValue(text);
  if (v === undefined) throw new Error(`${flag} must be a Kubernetes CPU quantity such as 500m or 2, got ${JSON.stringify(text)}`);
  if (v < 0.001) throw new Error(`${flag} must be at least 1m (one millicore), got ${JSON.stringify(text)}`);
  return text;
}

/** A memory quantity of at least 16 MiB ("512Mi", "4Gi", "2G"); "2 GB" and "500m" (half a byte) are refused. */
export function memoryQuantity(flag: string, text: string): string {
  const v = quantityValue(text);
  if (v === undefined) throw new Error(`${flag} must be a Kubernetes memory quantity such as 512Mi or 4Gi (no space, no "B"), got ${JSON.stringify(text)}`);
  if (v < 16 * 2 ** 20) throw new Error(`${flag} must be at least 16Mi (berth and its runtime need more), got ${JSON.stringify(text)}`);
  return text;
}
