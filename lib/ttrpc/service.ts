// Service descriptors (what the generated stubs are made of) and their typed server registration.
import { Code, TtrpcError } from './errors';
import type { CallContext } from './context';
import type { ServerStream } from './stream';

export type MethodKind = 'unary' | 'serverStream' | 'clientStream' | 'bidi';

/** A protobufjs static message class, or anything with the same encode/decode shape. */
export interface MessageType<T, P> {
  encode(message: P): { finish(): Uint8Array };
  decode(data: Uint8Array): T;
}

export interface MethodDescriptor<
  Req = unknown,
  ReqIn = unknown,
  Res = unknown,
  ResIn = unknown,
  K extends MethodKind = MethodKind,
> {
  /** Fully-qualified service name, e.g. `containerd.task.v2.Task`. */
  readonly service: string;
  /** Bare method name, e.g. `Create`. */
  readonly name: string;
  readonly kind: K;
  readonly requestType: MessageType<Req, ReqIn>;
  readonly responseType: MessageType<Res, ResIn>;
}

export interface ServiceDescriptor {
  readonly name: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly methods: { readonly [key: string]: MethodDescriptor<any, any, any, any> };
}

/** A message type, or a function returning it (lets a descriptor load its types on first use). */
export type TypeRef<T, P> = MessageType<T, P> | (() => MessageType<T, P>);

function resolve<T, P>(ref: TypeRef<T, P>): MessageType<T, P> {
  return 'decode' in ref ? ref : ref();
}

function describe<Req, ReqIn, Res, ResIn, K extends MethodKind>(
  kind: K,
  service: string,
  name: string,
  request: TypeRef<Req, ReqIn>,
  response: TypeRef<Res, ResIn>,
): MethodDescriptor<Req, ReqIn, Res, ResIn, K> {
  let requestType: MessageType<Req, ReqIn> | undefined;
  let responseType: MessageType<Res, ResIn> | undefined;
  return {
    service,
    name,
    kind,
    get requestType() {
      return (requestType ??= resolve(request));
    },
    get responseType() {
      return (responseType ??= resolve(response));
    },
  };
}

export function unary<Req, ReqIn, Res, ResIn>(
  service: string,
  name: string,
  requestType: TypeRef<Req, ReqIn>,
  responseType: TypeRef<Res, ResIn>,
): MethodDescriptor<Req, ReqIn, Res, ResIn, 'unary'> {
  return describe('unary', service, name, requestType, responseType);
}

export function serverStream<Req, ReqIn, Res, ResIn>(
  service: string,
  name: string,
  requestType: TypeRef<Req, ReqIn>,
  responseType: TypeRef<Res, ResIn>,
): MethodDescriptor<Req, ReqIn, Res, ResIn, 'serverStream'> {
  return describe('serverStream', service, name, requestType, responseType);
}

export function clientStream<Req, ReqIn, Res, ResIn>(
  service: string,
  name: string,
  requestType: TypeRef<Req, ReqIn>,
  responseType: TypeRef<Res, ResIn>,
): MethodDescriptor<Req, ReqIn, Res, ResIn, 'clientStream'> {
  return describe('clientStream', service, name, requestType, responseType);
}

export function bidi<Req, ReqIn, Res, ResIn>(
  service: string,
  name: string,
  requestType: TypeRef<Req, ReqIn>,
  responseType: TypeRef<Res, ResIn>,
): MethodDescriptor<Req, ReqIn, Res, ResIn, 'bidi'> {
  return describe('bidi', service, name, requestType, responseType);
}

type Awaitable<T> = T | Promise<T>;

export type UnaryHandler<Req, ResIn> = (request: Req, context: CallContext) => Awaitable<ResIn>;
export type ServerStreamHandler<Req, ResIn> = (
  request: Req,
  stream: ServerStream<never, ResIn>,
  context: CallContext,
) => Awaitable<void>;
export type ClientStreamHandler<Req, ResIn> = (
  stream: ServerStream<Req, never>,
  context: CallContext,
) => Awaitable<ResIn>;
export type BidiHandler<Req, ResIn> = (
  stream: ServerStream<Req, ResIn>,
  context: CallContext,
) => Awaitable<void>;

/** The handler type of one method descriptor. */
/* eslint-disable @typescript-eslint/no-explicit-any */
export type Handler<M> =
  M extends MethodDescriptor<infer Req, any, any, infer ResIn, infer K>
    ? K extends 'unary'
      ? UnaryHandler<Req, ResIn>
      : K extends 'serverStream'
        ? ServerStreamHandler<Req, ResIn>
        : K extends 'clientStream'
          ? ClientStreamHandler<Req, ResIn>
          : BidiHandler<Req, ResIn>
    : never;

/** An object with one handler per method of a service. */
export type ServiceHandlers<S extends ServiceDescriptor> = {
  [K in keyof S['methods']]: Handler<S['methods'][K]>;
};

/** Where registerService puts handlers: a Server, or anything else with its addMethod. */
export interface MethodRegistry {
  addMethod<M extends MethodDescriptor<any, any, any, any>>(
    descriptor: M,
    handler: Handler<M>,
  ): void;
}

/**
 * Registers every method of `service` on `server`. Handlers are called with `handlers` as `this`,
 * so a class instance works; methods it lacks answer UNIMPLEMENTED.
 */
export function registerService<S extends ServiceDescriptor>(
  server: MethodRegistry,
  service: S,
  handlers: Partial<ServiceHandlers<S>>,
): void {
  const table = handlers as Record<string, ((...args: unknown[]) => unknown) | undefined>;
  for (const [key, method] of Object.entries(service.methods)) {
    const fn = table[key];
    const handler =
      typeof fn === 'function'
        ? (...args: unknown[]) => fn.apply(handlers, args)
        : () => {
            throw new TtrpcError(
              Code.UNIMPLEMENTED,
              `/${service.name}/${method.name} is not implemented`,
            );
          };
    server.addMethod(method, handler as never);
  }
}
