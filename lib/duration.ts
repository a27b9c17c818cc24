// Go's duration syntax (time.ParseDuration): `100ms`, `2s`, `1m30s`, `1.5h`, `300us`/`300µs`, `10ns`.
// The ttrpc command's flags and the examples' use it; shims may too (containerd's configuration
// writes durations this way).

import { codedError } from './error-codes';

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 MICRO SIGN
  '\u03bcs': 1e-3, // U+03BC GREEK SMALL LETTER MU (escaped: see error-codes.ts)
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const COMPONENT = /^(\d*)(?:\.(\d*))?([^\d.]+)/;

/**
 * Parses a Go duration (a sequence of decimal numbers, each with an optional fraction and a
 * required unit, with an optional sign; "0" alone needs no unit) into milliseconds.
 */
export function parseDuration(text: string): number {
  const invalid = (): Error => codedError('ERR_INVALID_DURATION', `invalid duration "${text}"`);
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw invalid();
  let total = 0;
  while (rest !== '') {
    const m = COMPONENT.exec(rest);
    if (!m) throw invalid();
    const [all, whole = '', fraction, unitText = ''] = m;
    if (whole === '' && (fraction === undefined || fraction === '')) throw invalid();
    const unit = UNITS[unitText];
    if (unit === undefined) {
      throw codedError(
        'ERR_INVALID_DURATION',
        `unknown unit "${unitText}" in duration "${text}" (use ns, us, µs, ms, s, m or h)`,
      );
    }
    total += Number(`${whole || '0'}.${fraction || '0'}`) * unit;
    rest = rest.slice(all.length);
  }
  if (!Number.isFinite(total)) throw invalid();
  return sign * total;
}

/** True when `text` looks like a duration rather than a plain count ("500" is a count). */
export function isDuration(text: string): boolean {
  return !/^\d+$/.test(text);
}

function trim(value: number, digits: number): string {
  return value.toFixed(digits).replace(/\.?0+$/, '');
}

/** Formats milliseconds the way Go's Duration.String does (`1m30s`, `1.5s`, `250ms`, `300µs`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  if (abs < 1e-3) return `${sign}${trim(abs * 1e6, 0)}ns`;
  if (abs < 1) return `${sign}${trim(abs * 1e3, 3)}µs`;
  if (abs < 1000) return `${sign}${trim(abs, 6)}ms`;
  const h = Math.floor(abs / 3_600_000);
  const m = Math.floor((abs % 3_600_000) / 60_000);
  const s = (abs % 60_000) / 1000;
  let out = sign;
  if (h > 0) out += `${h}h`;
  if (h > 0 || m > 0) out += `${m}m`;
  return `${out}${trim(s, 9)}s`;
}
