/**
 * The cancellation signal of one gRPC call: aborted when the client cancels (RST_STREAM or a
 * closed connection), its deadline passes, or the server is force-closed. The core only needs
 * `aborted` and one listener per queued request (core/types.ts CancelSignal), so this holds a
 * plain list: an AbortController per call (an EventTarget, its events, a DOMException on abort)
 * was a measurable share of the gRPC path's main-thread time.
 */
import type { CancelSignal } from '../core/types.js';

export class CallSignal implements CancelSignal {
  private isAborted = false;
  private listeners: (() => void)[] | undefined;

  get aborted(): boolean {
    return this.isAborted;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners?.indexOf(listener) ?? -1;
    if (i >= 0) this.listeners!.splice(i, 1);
  }

  /** Marks the call aborted and tells every listener, once. */
  abort(): void {
    if (this.isAborted) return;
    this.isAborted = true;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const l of listeners) l();
  }
}
