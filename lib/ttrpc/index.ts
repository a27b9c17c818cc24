// The TTRPC protocol layer: client, server, streams, metadata, errors and service descriptors.
export { Client } from './client';
export type { CallOptions, ClientCallInfo, ClientOptions, UnaryClientInterceptor } from './client';
export { Server } from './server';
export type { CallContext } from './context';
export type { Handshaker, ServerOptions, ShutdownOptions, UnaryServerInterceptor } from './server';
export { requireRoot, requireSameUser, requireUidGid } from './handshake';
export { Code, TtrpcError, codeName, parseCode, toTtrpcError } from './errors';
export type { StatusDetail } from './errors';
export { Metadata } from './metadata';
export type { MetadataInit } from './metadata';
export { ClientStream, ServerStream } from './stream';
export { bidi, clientStream, registerService, serverStream, unary } from './service';
export type {
  Handler,
  MessageType,
  MethodRegistry,
  MethodDescriptor,
  MethodKind,
  ServiceDescriptor,
  ServiceHandlers,
} from './service';
export { formatAddress, parseAddress } from './address';
export type { Address } from './address';
export { DEFAULT_BUSY_POLL_MICROS } from './transport';
export type { PeerInfo } from './transport';
export type { Logger } from './log';
export { FrameFlag, FrameType, HEADER_LENGTH, MAX_MESSAGE_LENGTH } from './frame';
