// TTRPC addresses: `unix:///path`, a bare `/path`, `@name` or `unix://@name` (Linux abstract
// sockets), `fd://3` (an already-listening fd), and `\\.\pipe\name` (Windows named pipes).

import { codedError } from '../error-codes';

export type Address =
  | { kind: 'unix'; path: string }
  | { kind: 'abstract'; name: string }
  | { kind: 'fd'; fd: number }
  | { kind: 'pipe'; path: string };

function invalid(text: string, why: string): Error {
  return codedError('ERR_INVALID_ADDRESS', `invalid ttrpc address "${text}": ${why}`);
}

export function parseAddress(text: string): Address {
  if (typeof text !== 'string' || text.length === 0) throw invalid(String(text), 'empty');
  if (text.startsWith('\\\\.\\pipe\\') || text.startsWith('//./pipe/'))
    return { kind: 'pipe', path: text };
  let rest = text;
  if (rest.startsWith('unix://')) rest = rest.slice('unix://'.length);
  else if (rest.startsWith('fd://')) {
    const fd = Number(rest.slice('fd://'.length));
    if (!Number.isInteger(fd) || fd < 0) throw invalid(text, 'fd must be a non-negative integer');
    return { kind: 'fd', fd };
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rest)) {
    throw invalid(text, `unsupported scheme (use unix://, fd:// or a path)`);
  }
  if (rest.startsWith('@')) {
    if (rest.length === 1) throw invalid(text, 'empty abstract name');
    return { kind: 'abstract', name: rest.slice(1) };
  }
  if (rest.length === 0) throw invalid(text, 'empty path');
  return { kind: 'unix', path: rest };
}

export function formatAddress(address: Address): string {
  switch (address.kind) {
    case 'unix':
      return `unix://${address.path}`;
    case 'abstract':
      return `unix://@${address.name}`;
    case 'fd':
      return `fd://${address.fd}`;
    case 'pipe':
      return address.path;
  }
}
