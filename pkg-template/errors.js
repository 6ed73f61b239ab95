// The one error class of resource-guard. `code` is stable public API; `isResourceGuardError`
// works across realms (iframes, workers' structured clones keep name/code) because it checks a
// global-registry symbol or the name, never `instanceof` alone.
const BRAND = Symbol.for('resource-guard.error');

/**
 * Every code by the number the wasm core uses for it (`ErrorCode::as_u8` in src/core/error.rs).
 * tests/core_codes.rs fails when this list and the Rust one drift apart. ERR_WASM_LOAD is raised
 * by the JS loader only.
 */
export const CODES = [, 'ERR_INVALID_OPTION', 'ERR_QUEUE_FULL', 'ERR_SHED', 'ERR_TIMEOUT', 'ERR_CIRCUIT_OPEN', 'ERR_RETRIES_EXHAUSTED', 'ERR_RETRY_AFTER_TOO_LONG', 'ERR_PAYLOAD_TOO_LARGE', 'ERR_UNSUPPORTED', 'ERR_DISPOSED', 'ERR_QUOTA', 'ERR_WASM_LOAD'];

const MESSAGES = {
  ERR_QUEUE_FULL: (d) => `queue full (${d} waiting)`,
  ERR_SHED: (d) => (d === 1 ? 'shed: the heap is at its limit and this work is low priority' : d === 3 ? 'shed: the service is shedding load (adaptive throttling)' : 'shed: a higher-priority request took its queue slot'),
  ERR_TIMEOUT: (d) => ['timed out', 'attempt timed out (timeoutMs)', 'deadline passed (deadlineMs)', 'timed out waiting in the queue', 'job timed out (timeoutMs)'][d] || 'timed out',
  ERR_CIRCUIT_OPEN: (d) => `circuit open; retry in ${d} ms`,
  ERR_RETRIES_EXHAUSTED: (d) => (d ? `gave up: retries exhausted (last status ${d})` : 'gave up: retries exhausted after network failures'),
  ERR_RETRY_AFTER_TOO_LONG: (d) => `gave up: the server asked to wait ${d} ms, longer than allowed`,
  ERR_PAYLOAD_TOO_LARGE: (d) => `payload too large (${d} bytes)`,
  ERR_DISPOSED: () => 'the guard was disposed',
  ERR_QUOTA: () => 'storage is full (QuotaExceededError): nothing of this call was stored',
};
const DETAIL_KEYS = {
  ERR_QUEUE_FULL: 'capacity',
  ERR_SHED: 'reason',
  ERR_TIMEOUT: 'kind',
  ERR_CIRCUIT_OPEN: 'retryInMs',
  ERR_RETRIES_EXHAUSTED: 'lastStatus',
  ERR_RETRY_AFTER_TOO_LONG: 'retryAfterMs',
  ERR_PAYLOAD_TOO_LARGE: 'bytes',
};
const SHED = ['', 'heapLimit', 'queueFull', 'adaptive'];
const TIMEOUT = ['', 'attempt', 'deadline', 'queue', 'job'];

export class ResourceGuardError extends Error {
  /**
   * @param {string} code stable `ERR_*` code
   * @param {string} message
   * @param {Record<string, unknown>} [details]
   * @param {{ cause?: unknown }} [options]
   */
  constructor(code, message, details, options) {
    super(message, options);
    this.name = 'ResourceGuardError';
    this.code = code;
    this.details = details || {};
  }
  get [BRAND]() {
    return true;
  }
}

/** True for any resource-guard error, from any realm or copy of the package. */
export function isResourceGuardError(e) {
  return (
    e != null &&
    (typeof e === 'object' || typeof e === 'function') &&
    (e[BRAND] === true || (e.name === 'ResourceGuardError' && typeof e.code === 'string' && e.code.slice(0, 4) === 'ERR_'))
  );
}

/** Builds an error from a code and its one numeric detail (the form the wasm core speaks). */
export function guardError(code, detail = 0, extra, cause) {
  const key = DETAIL_KEYS[code];
  const details = key ? { [key]: code === 'ERR_SHED' ? SHED[detail] : code === 'ERR_TIMEOUT' ? TIMEOUT[detail] : detail } : {};
  if (extra) Object.assign(details, extra);
  const msg = (MESSAGES[code] || (() => code))(detail);
  return new ResourceGuardError(code, msg, details, cause === undefined ? undefined : { cause });
}

/** Turns an error thrown by the wasm core (`"CODE\nmessage\ndetail"`) into a ResourceGuardError. */
export function fromCore(e) {
  if (typeof e !== 'string') return e;
  const [code, message, detail, path] = e.split('\n');
  if (code === 'ERR_INVALID_OPTION') return new ResourceGuardError(code, message, { path: path || '' });
  return guardError(code, Number(detail) || 0);
}
