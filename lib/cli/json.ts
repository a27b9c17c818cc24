// JSON ↔ protobuf messages (protobufjs reflection) per the proto3 JSON mapping: field names in
// lowerCamelCase or as written in the .proto, int64 as strings, enums by name, bytes as base64,
// and the well-known types as JSON values: Timestamp as RFC 3339, Duration as "1.5s", the wrapper
// types (BytesValue, Int64Value, ...) as the value they wrap, Struct/Value/ListValue as any JSON,
// FieldMask as "a.b,c", Any as {"@type": ..., ...} (with "value" for a well-known type inside).
// Unknown fields are an error rather than silently dropped.
import * as protobuf from 'protobufjs';

import { UsageError } from './args';

const TIMESTAMP = '.google.protobuf.Timestamp';
const DURATION = '.google.protobuf.Duration';
const ANY = '.google.protobuf.Any';
const STRUCT = '.google.protobuf.Struct';
const VALUE = '.google.protobuf.Value';
const LIST_VALUE = '.google.protobuf.ListValue';
const FIELD_MASK = '.google.protobuf.FieldMask';
const WRAPPERS = new Set(
  ['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map(
    (t) => `.google.protobuf.${t}Value`,
  ),
);

/** Types whose JSON form is not an object of their fields. */
function hasSpecialJson(type: protobuf.Type): boolean {
  const name = type.fullName;
  return (
    WRAPPERS.has(name) ||
    name === TIMESTAMP ||
    name === DURATION ||
    name === STRUCT ||
    name === VALUE ||
    name === LIST_VALUE ||
    name === FIELD_MASK
  );
}

const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: String,
  defaults: true,
  json: true,
};

/** The proto3 JSON name of a field (protoc's ToJsonName, or the json_name option). */
export function jsonName(field: protobuf.Field): string {
  const explicit = field.options?.json_name as unknown;
  if (typeof explicit === 'string') return explicit;
  let out = '';
  let upper = false;
  for (const c of field.name) {
    if (c === '_') upper = true;
    else {
      out += upper ? c.toUpperCase() : c;
      upper = false;
    }
  }
  return out;
}

const byJsonName = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A field by its proto name or its JSON name. */
function fieldOf(type: protobuf.Type, key: string): protobuf.Field | undefined {
  const direct = type.fields[key];
  if (direct) return direct;
  let names = byJsonName.get(type);
  if (!names) {
    names = new Map(type.fieldsArray.map((f) => [jsonName(f), f]));
    byJsonName.set(type, names);
  }
  return names.get(key);
}

function anyTarget(type: protobuf.Type, typeUrl: unknown, where: string): protobuf.Type {
  if (typeof typeUrl !== 'string') throw new UsageError(`${where}: "@type" must be a string`);
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  const found = type.root.lookup(name, [protobuf.Type]);
  if (!(found instanceof protobuf.Type))
    throw new UsageError(`${where}: unknown message type "${name}" in "@type"`);
  return found;
}

// RFC 3339 → {seconds, nanos}
function parseTimestamp(text: string, where: string): { seconds: string; nanos: number } {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i.exec(text);
  const ms = m ? Date.parse(`${m[1]}${m[3]}`) : NaN;
  if (!m || Number.isNaN(ms))
    throw new UsageError(`${where}: "${text}" is not an RFC 3339 timestamp`);
  return { seconds: String(Math.floor(ms / 1000)), nanos: Number((m[2] ?? '').padEnd(9, '0')) };
}

function parseProtoDuration(text: string, where: string): { seconds: string; nanos: number } {
  const m = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(text);
  if (!m) throw new UsageError(`${where}: "${text}" is not a duration like "1.5s"`);
  const sign = m[1] ? -1 : 1;
  const nanos = Number((m[3] ?? '').padEnd(9, '0'));
  return { seconds: `${m[1] ?? ''}${m[2]}`, nanos: sign * nanos };
}

/** Checks `value` against `type` and returns it with field names and WKT strings normalized. */
function normalize(type: protobuf.Type, value: unknown, where: string): Record<string, unknown> {
  if (!isPlainObject(value)) {
    throw new UsageError(
      `${where}: expected a JSON object for ${type.fullName.slice(1)}, got ${JSON.stringify(value)}`,
    );
  }
  if (type.fullName === ANY && '@type' in value) {
    const target = anyTarget(type, value['@type'], where);
    const { '@type': typeUrl, ...rest } = value;
    // A well-known type with a JSON form of its own sits in "value".
    if (hasSpecialJson(target)) {
      const fields = normalizeValue(target, rest.value, `${where}.value`);
      return { '@type': typeUrl, ...(fields as Record<string, unknown>) };
    }
    return { '@type': typeUrl, ...normalize(target, rest, where) };
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const field = fieldOf(type, key);
    if (!field) {
      throw new UsageError(
        `${where}: unknown field "${key}" in ${type.fullName.slice(1)} (fields: ${type.fieldsArray.map(jsonName).join(', ')})`,
      );
    }
    field.resolve();
    const at = `${where}.${field.name}`;
    const sub = field.resolvedType;
    let converted: unknown = v;
    if (sub instanceof protobuf.Type && v !== null) {
      const one = (item: unknown, path: string): unknown => normalizeValue(sub, item, path);
      if (field.map) {
        if (!isPlainObject(v)) throw new UsageError(`${at}: expected a JSON object (map)`);
        converted = Object.fromEntries(
          Object.entries(v).map(([k, item]) => [k, one(item, `${at}[${k}]`)]),
        );
      } else if (field.repeated) {
        if (!Array.isArray(v)) throw new UsageError(`${at}: expected a JSON array`);
        converted = v.map((item, i) => one(item, `${at}[${i}]`));
      } else {
        converted = one(v, at);
      }
    } else if (v !== null) {
      if (field.map) {
        if (!isPlainObject(v)) throw new UsageError(`${at}: expected a JSON object (map)`);
        for (const [k, item] of Object.entries(v)) checkScalar(field, item, `${at}[${k}]`);
      } else if (field.repeated) {
        if (!Array.isArray(v)) throw new UsageError(`${at}: expected a JSON array`);
        v.forEach((item, i) => checkScalar(field, item, `${at}[${i}]`));
      } else {
        checkScalar(field, v, at);
      }
    }
    out[field.name] = converted;
  }
  return out;
}

const INTEGER = /^-?\d+$/;
const NUMBER_TYPES = new Set(['double', 'float']);
const INT_TYPES = new Set([
  'int32',
  'uint32',
  'sint32',
  'fixed32',
  'sfixed32',
  'int64',
  'uint64',
  'sint64',
  'fixed64',
  'sfixed64',
]);

/** Rejects a JSON value protobufjs's fromObject would silently coerce into something else. */
function checkScalar(field: protobuf.Field, value: unknown, where: string): void {
  const type = field.type;
  const bad = (what: string): never => {
    throw new UsageError(
      `${where}: expected ${what} for ${type} field, got ${JSON.stringify(value)}`,
    );
  };
  if (field.resolvedType instanceof protobuf.Enum) {
    const values = field.resolvedType.values;
    if (typeof value === 'string' && !(value in values))
      bad(`one of ${Object.keys(values).join(', ')}`);
    if (typeof value === 'number' && !Number.isInteger(value)) bad('an enum name or number');
    if (typeof value !== 'string' && typeof value !== 'number') bad('an enum name or number');
  } else if (INT_TYPES.has(type)) {
    const ok =
      (typeof value === 'number' && Number.isInteger(value)) ||
      (typeof value === 'string' && INTEGER.test(value));
    if (!ok) bad('an integer (number or string)');
  } else if (NUMBER_TYPES.has(type)) {
    const ok =
      typeof value === 'number' ||
      (typeof value === 'string' &&
        (['NaN', 'Infinity', '-Infinity'].includes(value) ||
          (value.trim() !== '' && Number.isFinite(Number(value)))));
    if (!ok) bad('a number');
  } else if (type === 'bool') {
    if (typeof value !== 'boolean') bad('true or false');
  } else if (type === 'string') {
    if (typeof value !== 'string') bad('a string');
  } else if (type === 'bytes') {
    if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*=*$/.test(value)) bad('base64 text');
  }
}

// google.protobuf.Value from any JSON value.
function jsonToValue(value: unknown, where: string): Record<string, unknown> {
  if (value === null) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: jsonToList(value, where) };
  if (isPlainObject(value)) return { structValue: jsonToStruct(value, where) };
  throw new UsageError(`${where}: ${JSON.stringify(value)} is not a JSON value`);
}

function jsonToStruct(value: unknown, where: string): Record<string, unknown> {
  if (!isPlainObject(value)) throw new UsageError(`${where}: expected a JSON object (Struct)`);
  return {
    fields: Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, jsonToValue(v, `${where}.${k}`)]),
    ),
  };
}

function jsonToList(value: unknown, where: string): Record<string, unknown> {
  if (!Array.isArray(value)) throw new UsageError(`${where}: expected a JSON array (ListValue)`);
  return { values: value.map((v, i) => jsonToValue(v, `${where}[${i}]`)) };
}

const snakeCase = (path: string): string => path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camelCase = (path: string): string =>
  path.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function normalizeValue(type: protobuf.Type, value: unknown, where: string): unknown {
  const name = type.fullName;
  if (name === TIMESTAMP && typeof value === 'string') return parseTimestamp(value, where);
  if (name === DURATION && typeof value === 'string') return parseProtoDuration(value, where);
  if (WRAPPERS.has(name) && !isPlainObject(value)) {
    checkScalar(type.fields.value!, value, where);
    return { value };
  }
  if (name === STRUCT) return jsonToStruct(value, where);
  if (name === VALUE) return jsonToValue(value, where);
  if (name === LIST_VALUE) return jsonToList(value, where);
  if (name === FIELD_MASK && typeof value === 'string')
    return { paths: value === '' ? [] : value.split(',').map(snakeCase) };
  return normalize(type, value, where);
}

/** Encodes a JSON value as a `type` message. */
export function encodeJson(type: protobuf.Type, json: unknown): Uint8Array {
  const normalized = normalizeValue(type, json, 'request') as Record<string, unknown>;
  let message: protobuf.Message;
  try {
    message = type.fromObject(normalized);
  } catch (err) {
    throw new UsageError(`request: ${(err as Error).message}`);
  }
  const invalid = type.verify(message);
  if (invalid) throw new UsageError(`request: ${invalid}`);
  return type.encode(message).finish();
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function formatTimestamp(seconds: number, nanos: number): string {
  const date = new Date(seconds * 1000);
  if (Number.isNaN(date.getTime())) return `${seconds}s`;
  const base = date.toISOString().slice(0, 19);
  if (nanos === 0) return `${base}Z`;
  const frac = pad(nanos, 9).replace(/(000)+$/, '');
  return `${base}.${frac}Z`;
}

function formatProtoDuration(seconds: string, nanos: number): string {
  const negative = seconds.startsWith('-') || nanos < 0;
  const whole = seconds.replace(/^-/, '');
  const frac = nanos === 0 ? '' : `.${pad(Math.abs(nanos), 9).replace(/(000)+$/, '')}`;
  return `${negative ? '-' : ''}${whole}${frac}s`;
}

/**
 * Turns a toObject() result (proto field names) into proto3 JSON: lowerCamelCase names, and the
 * well-known types Timestamp and Duration as strings.
 */
function present(type: protobuf.Type, object: Record<string, unknown>): unknown {
  const name = type.fullName;
  if (name === TIMESTAMP) {
    return formatTimestamp(Number(object.seconds ?? 0), Number(object.nanos ?? 0));
  }
  if (name === DURATION) {
    return formatProtoDuration(String(object.seconds ?? '0'), Number(object.nanos ?? 0));
  }
  if (WRAPPERS.has(name)) return object.value;
  if (name === STRUCT) return structToJson(object);
  if (name === VALUE) return valueToJson(object);
  if (name === LIST_VALUE) return listToJson(object);
  if (name === FIELD_MASK) {
    const paths = Array.isArray(object.paths) ? (object.paths as string[]) : [];
    return paths.map(camelCase).join(',');
  }
  let target = type;
  const out: Record<string, unknown> = {};
  if (type.fullName === ANY && typeof object['@type'] === 'string') {
    const url = object['@type'];
    const found = type.root.lookup(url.slice(url.lastIndexOf('/') + 1), [protobuf.Type]);
    if (found instanceof protobuf.Type) target = found;
    out['@type'] = url;
    if (target !== type && hasSpecialJson(target)) {
      out.value = present(target, object);
      return out;
    }
  }
  for (const field of target.fieldsArray) {
    if (!(field.name in object)) continue;
    field.resolve();
    const sub = field.resolvedType;
    const v = object[field.name];
    let shown = v;
    if (sub instanceof protobuf.Type && v !== null && v !== undefined) {
      const one = (item: unknown): unknown =>
        isPlainObject(item) ? present(sub, item) : (item as unknown);
      if (field.map && isPlainObject(v)) {
        shown = Object.fromEntries(Object.entries(v).map(([k, i]) => [k, one(i)]));
      } else if (Array.isArray(v)) {
        shown = v.map(one);
      } else {
        shown = one(v);
      }
    }
    out[jsonName(field)] = shown;
  }
  return out;
}

// google.protobuf.Value / Struct / ListValue (as toObject gives them) to plain JSON.
function valueToJson(object: Record<string, unknown>): unknown {
  if (object.structValue !== undefined && object.structValue !== null)
    return structToJson(object.structValue as Record<string, unknown>);
  if (object.listValue !== undefined && object.listValue !== null)
    return listToJson(object.listValue as Record<string, unknown>);
  if (object.stringValue !== undefined) return object.stringValue;
  if (object.numberValue !== undefined) return object.numberValue;
  if (object.boolValue !== undefined) return object.boolValue;
  return null;
}

function structToJson(object: Record<string, unknown>): Record<string, unknown> {
  const fields = (object.fields ?? {}) as Record<string, Record<string, unknown>>;
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, valueToJson(v)]));
}

function listToJson(object: Record<string, unknown>): unknown[] {
  const values = (object.values ?? []) as Record<string, unknown>[];
  return values.map(valueToJson);
}

/** Decodes a `type` message into JSON-ready data (all fields, defaults included). */
export function decodeToJson(type: protobuf.Type, bytes: Uint8Array): unknown {
  return messageToJson(type, type.decode(bytes));
}

export function messageToJson(type: protobuf.Type, message: protobuf.Message): unknown {
  return present(type, type.toObject(message, TO_OBJECT) as Record<string, unknown>);
}

/** A sequence of JSON values (whitespace-separated, as grpcurl reads streaming requests). */
export function parseJsonValues(text: string): unknown[] {
  const values: unknown[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && /\s/.test(text[i]!)) i++;
    if (i >= n) break;
    const start = i;
    if (text[i] === '{' || text[i] === '[') {
      let depth = 0;
      let inString = false;
      for (; i < n; i++) {
        const c = text[i]!;
        if (inString) {
          if (c === '\\') i++;
          else if (c === '"') inString = false;
        } else if (c === '"') inString = true;
        else if (c === '{' || c === '[') depth++;
        else if (c === '}' || c === ']') {
          depth--;
          if (depth === 0) {
            i++;
            break;
          }
        }
      }
    } else {
      while (i < n && !/\s/.test(text[i]!)) i++;
    }
    const chunk = text.slice(start, i);
    try {
      values.push(JSON.parse(chunk));
    } catch (err) {
      throw new UsageError(`invalid JSON: ${(err as Error).message}`);
    }
  }
  return values;
}
