/**
 * A server-wide count of bytes in flight: request bodies as they arrive and are decoded, and
 * answers until the kernel has taken them. Each request holds a Lease, released once when its
 * response closes (sent or aborted), so nothing leaks whatever way a request ends.
 */
export class InflightBudget {
  private used = 0;
  private peakUsed = 0;

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  get peak(): number {
    return this.peakUsed;
  }

  /** Whether `bytes` more would fit now. */
  fits(bytes: number): boolean {
    return this.used + bytes <= this.limit;
  }

  lease(): Lease {
    return new Lease(this);
  }

  /** @internal */
  add(bytes: number): void {
    this.used += bytes;
    if (this.used > this.peakUsed) this.peakUsed = this.used;
  }
}

export class Lease {
  private held = 0;
  private released = false;

  constructor(private readonly budget: InflightBudget) {}

  get bytes(): number {
    return this.held;
  }

  /** Takes `bytes` if they fit in the budget; false (and nothing taken) when they do not. */
  tryAcquire(bytes: number): boolean {
    if (this.released) return false;
    if (!this.budget.fits(bytes)) return false;
    this.take(bytes);
    return true;
  }

  /**
   * Takes `bytes` even past the limit: for answers already computed, which must be sent or
   * dropped; holding them makes new requests wait until they are written.
   */
  force(bytes: number): void {
    if (!this.released) this.take(bytes);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.add(-this.held);
    this.held = 0;
  }

  private take(bytes: number): void {
    this.held += bytes;
    this.budget.add(bytes);
  }
}
