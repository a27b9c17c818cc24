// ExitSignal: a one-shot latch a shim's `wait()` returns on and its Shutdown handler fires.

export class ExitSignal {
  private fired = false;
  private readonly waiters: (() => void)[] = [];

  /** Fires the signal; later calls do nothing. */
  signal(): void {
    if (this.fired) return;
    this.fired = true;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `signal()` was called. */
  wait(): Promise<void> {
    if (this.fired) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  get signaled(): boolean {
    return this.fired;
  }
}
