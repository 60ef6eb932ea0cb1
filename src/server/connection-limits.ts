/** What one client connection may hold, shared by both transports (values from the config: MPE_REQUEST_TIMEOUT_MS, MPE_IDLE_TIMEOUT_MS, MPE_MAX_CONNECTIONS). */
import { DEFAULTS, type ServeConfig } from '../config/config.js';

export interface ConnectionLimits {
  /** Longest time to receive a whole request (milliseconds). */
  readonly requestTimeoutMs: number;
  /** Connections without a request in progress are closed after this (milliseconds). */
  readonly idleTimeoutMs: number;
  /** Most open connections per transport. */
  readonly maxConnections: number;
}

/** The limits of a config. */
export function connectionLimits(c: Pick<ServeConfig, 'requestTimeoutMs' | 'idleTimeoutMs' | 'maxConnections'>): ConnectionLimits {
  return Object.freeze({ requestTimeoutMs: c.requestTimeoutMs, idleTimeoutMs: c.idleTimeoutMs, maxConnections: c.maxConnections });
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = connectionLimits(DEFAULTS);
