// `ttrpc describe [name]` and `ttrpc list`: what the loaded .proto files define. ttrpc has no server
// reflection, so this is what `call` and `bench` can talk about.
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

import { UsageError } from './args';
import { jsonName } from './json';
import type { ProtoRegistry } from './protos';
import { BUILTIN_PROTO_DIR, methodKind, stripDot } from './protos';

function sourceOf(obj: protobuf.ReflectionObject, builtin: boolean): string {
  const file = obj.filename;
  if (!file) return '';
  const base = builtin ? BUILTIN_PROTO_DIR : process.cwd();
  const rel = path.relative(base, file);
  return builtin ? `built in: proto/${rel}` : rel.startsWith('..') ? file : rel;
}

function describeService(service: protobuf.Service, builtin: boolean): string {
  const methods = service.methodsArray;
  for (const m of methods) m.resolve();
  const rows = methods.map((m) => [
    m.name,
    methodKind(m),
    `${stripDot(m.resolvedRequestType!.fullName)} -> ${stripDot(m.resolvedResponseType!.fullName)}`,
  ]);
  const widths = [0, 1].map((c) => Math.max(0, ...rows.map((r) => r[c]!.length)));
  const source = sourceOf(service, builtin);
  const lines = [`${stripDot(service.fullName)}${source ? `  (${source})` : ''}`];
  for (const r of rows)
    lines.push(`  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`);
  return lines.join('\n');
}

function fieldLine(field: protobuf.Field, indent: string): string {
  const json = jsonName(field);
  const hint = json !== field.name ? `  // JSON: ${json}` : '';
  return `${indent}${fieldType(field)} ${field.name} = ${field.id};${hint}`;
}

function fieldType(field: protobuf.Field): string {
  field.resolve();
  const type = field.resolvedType ? stripDot(field.resolvedType.fullName) : field.type;
  if (field.map) return `map<${(field as unknown as protobuf.MapField).keyType}, ${type}>`;
  return `${field.repeated ? 'repeated ' : ''}${type}`;
}

function describeType(type: protobuf.Type | protobuf.Enum): string {
  if (type instanceof protobuf.Enum) {
    const lines = [`enum ${stripDot(type.fullName)} {`];
    for (const [name, value] of Object.entries(type.values)) lines.push(`  ${name} = ${value};`);
    lines.push('}');
    return lines.join('\n');
  }
  const lines = [`message ${stripDot(type.fullName)} {`];
  const inOneof = new Set<string>();
  for (const oneof of type.oneofsArray) {
    if (oneof.fieldsArray.length === 1 && oneof.name.startsWith('_')) continue; // proto3 optional
    lines.push(`  oneof ${oneof.name} {`);
    for (const f of oneof.fieldsArray) {
      inOneof.add(f.name);
      lines.push(fieldLine(f, '    '));
    }
    lines.push('  }');
  }
  for (const f of type.fieldsArray) {
    if (!inOneof.has(f.name)) lines.push(fieldLine(f, '  '));
  }
  lines.push('}');
  return lines.join('\n');
}

/** `describe`: every service; or one service, method (with its messages) or message. */
export function describe(registry: ProtoRegistry, name: string | undefined): string {
  if (name === undefined) {
    const services = registry.services();
    if (services.length === 0) return '(no services; add --proto <file>)\n';
    return `${services.map((s) => describeService(s.service, s.builtin)).join('\n\n')}\n`;
  }
  const type = registry.findDefinition(name);
  if (type) return `${describeType(type)}\n`;
  const isMethod = name.replace(/^\//, '').includes('/');
  if (!isMethod) {
    try {
      const service = registry.findService(name);
      const builtin = registry.services().find((s) => s.service === service)?.builtin ?? false;
      return `${describeService(service, builtin)}\n`;
    } catch (err) {
      if (!name.includes('.')) throw err;
      // maybe package.Service.Method
    }
  }
  let resolved;
  try {
    resolved = registry.findMethod(name);
  } catch (err) {
    if (isMethod) throw err;
    throw new UsageError(`nothing named "${name}" (not a service, method or message)`);
  }
  const { requestType, responseType, kind } = resolved;
  const stream = (s: boolean | undefined): string => (s ? 'stream ' : '');
  return [
    `rpc ${resolved.method}(${stream(resolved.definition.requestStream)}${stripDot(requestType.fullName)}) returns (${stream(resolved.definition.responseStream)}${stripDot(responseType.fullName)})  // ${resolved.service}, ${kind}`,
    '',
    describeType(requestType),
    '',
    describeType(responseType),
    '',
  ].join('\n');
}

/** `list`: service names, one a line. */
export function list(registry: ProtoRegistry): string {
  return registry
    .services()
    .map((s) => `${stripDot(s.service.fullName)}\n`)
    .join('');
}
