// Request metadata: a multi-valued map with case-insensitive keys, sent as repeated KeyValue.

export interface KeyValue {
  key?: string | null;
  value?: string | null;
}

export type MetadataInit =
  Metadata | Record<string, string | readonly string[]> | Iterable<readonly [string, string]>;

/**
 * Keys are stored lower-cased (Go's MD.Set/Get do the same), so lookups ignore case; values of a
 * key keep their order.
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

  /** All values of `key` (empty when absent). */
  get(key: string): string[] {
    return this.map.get(key.toLowerCase()) ?? [];
  }

  /** The first value of `key`. */
  first(key: string): string | undefined {
    return this.map.get(key.toLowerCase())?.[0];
  }

  has(key: string): boolean {
    return this.map.has(key.toLowerCase());
  }

  /** Replaces the values of `key`. */
  set(key: string, ...values: string[]): this {
    if (values.length === 0) this.map.delete(key.toLowerCase());
    else this.map.set(key.toLowerCase(), values);
    return this;
  }

  append(key: string, ...values: string[]): this {
    if (values.length === 0) return this;
    const k = key.toLowerCase();
    const existing = this.map.get(k);
    if (existing) existing.push(...values);
    else this.map.set(k, values);
    return this;
  }

  delete(key: string): boolean {
    return this.map.delete(key.toLowerCase());
  }

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
