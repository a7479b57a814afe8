/**
 * ONNX backend test cases that load and run in berth but whose results differ from ONNX's
 * reference for a reason we understand and that is not berth's to fix. Keyed by
 * `suite/test_name`. The conformance test fails if a listed case passes (so this list stays
 * true) and reports listed cases separately from real failures.
 *
 * Cases that do not load at all are NOT listed here: they are classified from the actual load
 * error (see classifyLoadError in harness.ts).
 */
export const KNOWN_FAILURES: Readonly<Record<string, string>> = {};
