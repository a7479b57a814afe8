/** A fleet replica that is a container of the packaged image (issue #18) under podman. */
import type { Container, Podman } from '../../helpers/podman.js';
import type { Restartable } from './failover.js';

export class ContainerReplica implements Restartable {
  constructor(
    readonly name: string,
    readonly container: Container,
    private readonly podman: Podman,
  ) {}

  /** the host port (127.0.0.1) published for the container's HTTP port; kept across restarts */
  get port(): number {
    return this.container.ports.http!;
  }

  /** `podman kill --signal …` to the server (the container's PID 1), then its exit code. */
  async signal(sig: 'SIGKILL' | 'SIGTERM'): Promise<number | null> {
    await this.container.signal(sig === 'SIGKILL' ? 'KILL' : 'TERM');
    return this.container.wait(60_000);
  }

  /** `podman start` of the same container: same ports, same image; then ready. */
  async start(): Promise<void> {
    await this.podman.check(['start', this.container.name]);
    await this.container.waitReady(60_000);
  }

  log(): Promise<string> {
    return this.container.logs();
  }
}
