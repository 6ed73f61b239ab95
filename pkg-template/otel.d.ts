import type { MeterProvider } from '@opentelemetry/api';
import type { ResourceGuard } from './index.js';

export interface InstrumentOptions {
  /** Where the metrics go. @default the global meter provider (`metrics.getMeterProvider()`) */
  meterProvider?: MeterProvider;
  /** Add retry, give-up and fallback events to the caller's active span. @default true */
  spans?: boolean;
}

/**
 * Records the guard's activity through OpenTelemetry (metrics named `resource_guard.*`, see the
 * README table; events on the caller's active span). Returns a function that removes it. With
 * the API's no-op meter and `spans: false` it installs nothing.
 */
export function instrument(guard: ResourceGuard, options?: InstrumentOptions): () => void;
