// A CRI client for the tests: the kubelet's side of containerd's CRI plugin, over gRPC on
// containerd's unix socket. The service definitions come from Debian's CRI api.proto (loaded at
// run time, nothing generated or vendored); messages are plain objects in the proto's
// snake_case names, int64s as decimal strings, enums by name.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** A CRI message as @grpc/proto-loader hands it over. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Message = Record<string, any>;

type Unary = (
  request: Message,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: Message) => void,
) => grpc.ClientUnaryCall;

/** A failed CRI call: the gRPC status code and containerd's message. */
export class CriError extends Error {
  readonly code = 'ERR_CRI_CALL' as const;
  constructor(
    readonly method: string,
    readonly status: grpc.status,
    readonly details: string,
  ) {
    super(`${method}: ${grpc.status[status]}: ${details}`);
    this.name = 'CriError';
  }
}

const loaded = new Map<string, grpc.GrpcObject>();

function load(protoFile: string): grpc.GrpcObject {
  let pkg = loaded.get(protoFile);
  if (!pkg) {
    const definition = protoLoader.loadSync(protoFile, {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    pkg = grpc.loadPackageDefinition(definition);
    loaded.set(protoFile, pkg);
  }
  return pkg;
}

/** `runtime.v1.RuntimeService` and `runtime.v1.ImageService` on one channel. */
export class CriClient {
  private readonly runtimeService: grpc.Client;
  private readonly imageService: grpc.Client;

  constructor(
    protoFile: string,
    socket: string,
    /** Deadline of a call unless the call names one. */
    private readonly defaultTimeoutMs = 60_000,
  ) {
    const pkg = load(protoFile) as unknown as {
      runtime: { v1: Record<string, grpc.ServiceClientConstructor> };
    };
    const v1 = pkg.runtime.v1;
    const target = `unix://${socket}`;
    const credentials = grpc.credentials.createInsecure();
    this.runtimeService = new v1.RuntimeService!(target, credentials);
    this.imageService = new v1.ImageService!(target, credentials, {
      channelOverride: this.runtimeService.getChannel(),
    });
  }

  /** A RuntimeService call, e.g. `runtime('RunPodSandbox', {...})`. */
  runtime(method: string, request: Message = {}, timeoutMs?: number): Promise<Message> {
    return this.call(this.runtimeService, method, request, timeoutMs);
  }

  /** An ImageService call. */
  image(method: string, request: Message = {}, timeoutMs?: number): Promise<Message> {
    return this.call(this.imageService, method, request, timeoutMs);
  }

  private call(
    service: grpc.Client,
    method: string,
    request: Message,
    timeoutMs = this.defaultTimeoutMs,
  ): Promise<Message> {
    const fn = (service as unknown as Record<string, Unary | undefined>)[method];
    if (typeof fn !== 'function') return Promise.reject(new Error(`no CRI method ${method}`));
    return new Promise((resolve, reject) => {
      fn.call(
        service,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, response) => {
          if (err) reject(new CriError(method, err.code, err.details));
          else resolve(response ?? {});
        },
      );
    });
  }

  close(): void {
    this.imageService.close();
    this.runtimeService.close();
  }
}
