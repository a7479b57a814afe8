/**
 * A cancellation signal for one HTTP request: aborted when the client closes the connection
 * before its answer was written. Cheaper than an AbortController per request (an EventTarget,
 * its event objects and listener bookkeeping): nothing is allocated or subscribed unless the
 * core actually waits on it, i.e. while the request sits in a batch queue.
 */
import type { ServerResponse } from 'node:http';
import type { CancelSignal } from '../core/types.js';

export class ClientGoneSignal implements CancelSignal {
  private gone = false;
  private listener?: () => void;

  constructor(private readonly res: ServerResponse) {}

  get aborted(): boolean {
    // destroyed before the answer was finished: the socket went away under us
    return this.gone || (this.res.destroyed && !this.res.writableFinished);
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.listener) throw new Error('ClientGoneSignal takes one listener');
    this.listener = listener;
    this.res.on('close', this.onClose);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    if (this.listener !== listener) return;
    this.listener = undefined;
    this.res.removeListener('close', this.onClose);
  }

  private readonly onClose = (): void => {
    if (this.res.writableFinished) return;
    this.gone = true;
    const listener = this.listener;
    this.listener = undefined;
    this.res.removeListener('close', this.onClose);
    listener?.();
  };
}
