// Timers of any length. Node's setTimeout fires at once for delays over 2^31-1 ms (~24.9 days);
// a deadline past that is reached in steps.

/** The longest delay setTimeout honours. */
export const MAX_TIMER_DELAY = 0x7fffffff;

export interface LongTimer {
  /** The timer currently armed (a step when the delay is longer than MAX_TIMER_DELAY). */
  timer: NodeJS.Timeout;
}

/** Calls `fn` after `ms` milliseconds, however many; cancel with clearLongTimeout. */
export function setLongTimeout(fn: () => void, ms: number): NodeJS.Timeout | LongTimer {
  if (ms <= MAX_TIMER_DELAY) return setTimeout(fn, Math.max(0, ms));
  const at = Date.now() + ms;
  const handle: LongTimer = { timer: undefined as unknown as NodeJS.Timeout };
  const step = (): void => {
    const left = at - Date.now();
    handle.timer = left > 0 ? setTimeout(step, Math.min(left, MAX_TIMER_DELAY)) : setTimeout(fn, 0);
  };
  step();
  return handle;
}

export function clearLongTimeout(handle: NodeJS.Timeout | LongTimer | undefined): void {
  if (handle === undefined) return;
  clearTimeout('timer' in handle ? handle.timer : handle);
}
