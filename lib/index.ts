// containerd-shim: write containerd runtime v2 shims in TypeScript.
// First: a standby's boot cache must be in place before the modules below load.
import './shim/warm/boot-hook';
export * from './ttrpc';
export { ERROR_CODES, hasErrorCode } from './error-codes';
export { formatDuration, parseDuration } from './duration';
export type { CodedError, ErrorCode, ErrorCodeInfo } from './error-codes';
export { int64ToBigInt, int64ToNumber } from './int64/convert';
export { TaskClient, TaskService, registerTaskService } from './generated/task-service';
export type { TaskHandlers } from './generated/task-service';
export { TaskV3Client, TaskV3Service, registerTaskV3Service } from './generated/task-v3-service';
export type { TaskV3Handlers } from './generated/task-v3-service';
export { EventsClient, EventsService, registerEventsService } from './generated/events-service';
export type { EventsHandlers } from './generated/events-service';
export * from './shim';
