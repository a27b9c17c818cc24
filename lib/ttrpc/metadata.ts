// Request metadata: a multi-valued map sent as repeated KeyValue, keys as written.

export interface KeyValue {
  key?: string | null;
  value?: string | null;
}

export type MetadataInit =
  Metadata | Record<string, string | readonly string[]> | Iterable<readonly [string, string]>;

/**
 * Keys keep their case, on the wire in both directions (as Go's MD does: "X-Id" and "x-id" are two
 * keys); the lookups (`get`, `first`, `has`, `delete`, `set`) ignore case and see every spelling
 * of a key, in the order the spellings were added. Values of a key keep their order.
 */
export class Metadata {
  private readonly map = new Map<string, string[]>();

  constructor(init?: MetadataInit) {
    if (init === undefined) return;
    if (init instanceof Metadata) {
      for (const [k, v] of init.map) this.map.set(k, [...v]);
    } else if (Symbol.iterator in init) {
      for (const [k, v] of init as Iterable<readonly [string, string]>) this.append(k, v);
    } else {
      for (const [k, v] of Object.entries(init)) {
        if (typeof v === 'string') this.append(k, v);
        else this.append(k, ...v);
      }
    }
  }

  // The spellings of `key` present, exact match first (the common case costs one lookup).
  private spellings(key: string): string[] {
    const out: string[] = [];
    const lower = key.toLowerCase();
    for (const k of this.map.keys()) if (k === key || k.toLowerCase() === lower) out.push(k);
    return out;
  }

  /** All values of `key`, any case (empty when absent). */
  get(key: string): string[] {
    const exact = this.map.get(key);
    const keys = this.spellings(key);
    if (keys.length === 1 && exact) return exact;
    return keys.flatMap((k) => this.map.get(k)!);
  }

  /** The first value of `key`, any case. */
  first(key: string): string | undefined {
    return this.get(key)[0];
  }

  has(key: string): boolean {
    return this.map.has(key) || this.spellings(key).length > 0;
  }

  /** Replaces the values of `key` (every spelling) with `values` under `key` as written. */
  set(key: string, ...values: string[]): this {
    for (const k of this.spellings(key)) this.map.delete(k);
    if (values.length > 0) this.map.set(key, values);
    return this;
  }

  /** Adds values to `key` exactly as written. */
  append(key: string, ...values: string[]): this {
    if (values.length === 0) return this;
    const existing = this.map.get(key);
    if (existing) existing.push(...values);
    else this.map.set(key, values);
    return this;
  }

  /** Removes `key` in every spelling. */
  delete(key: string): boolean {
    const keys = this.spellings(key);
    for (const k of keys) this.map.delete(k);
    return keys.length > 0;
  }

  /** Distinct keys (spellings count separately). */
  get size(): number {
    return this.map.size;
  }

  /** [key, value] pairs in wire order. */
  *entries(): IterableIterator<[string, string]> {
    for (const [k, values] of this.map) for (const v of values) yield [k, v];
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  toJSON(): Record<string, string[]> {
    return Object.fromEntries(this.map);
  }

  /** The repeated KeyValue of a ttrpc Request. */
  toWire(): KeyValue[] {
    const out: KeyValue[] = [];
    for (const [k, values] of this.map) for (const v of values) out.push({ key: k, value: v });
    return out;
  }

  static fromWire(pairs: readonly KeyValue[] | null | undefined): Metadata {
    const md = new Metadata();
    if (pairs) for (const kv of pairs) md.append(kv.key ?? '', kv.value ?? '');
    return md;
  }
}
