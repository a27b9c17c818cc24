// The logging surface the protocol layer uses; a pino logger satisfies it.

export interface Logger {
  debug(obj: object, msg?: string): void;
  debug(msg: string): void;
  warn(obj: object, msg?: string): void;
  warn(msg: string): void;
}

const noop = (): void => undefined;

export const silentLogger: Logger = { debug: noop, warn: noop };
