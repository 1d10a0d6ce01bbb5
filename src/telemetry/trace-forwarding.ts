import { randomFillSync } from 'node:crypto';
import type { HeaderValue, Headers } from '../records';

/**
 * Trace context when no span is recorded (no exporter configured): the service is then a hop
 * that takes part in no trace, and W3C Trace Context lets such a hop pass `traceparent` (and
 * its `tracestate`) on unchanged. That is what this does, byte for byte and without building
 * a span, a context or a string per message; the SDK path costs ~4 µs per message.
 *
 * An event without a valid traceparent leaves with a new one (unsampled), so its prediction or
 * dead letter can still be followed downstream. A null header value (Kafka allows one) is a
 * header without a value: a null traceparent is no traceparent; a null tracestate next to a valid
 * traceparent is passed on as it came, null.
 */

// As @opentelemetry/core's W3C propagator accepts it: any version but ff, non-zero ids.
const TRACEPARENT = /^\s?(?!ff)[\da-f]{2}-(?![0]{32})[\da-f]{32}-(?![0]{16})[\da-f]{16}-[\da-f]{2}(-.*)?\s?$/;
const TRACEPARENT_HEADER = 'traceparent';
const TRACESTATE_HEADER = 'tracestate';
// The SDK's W3C propagator ignores a longer tracestate (W3C asks hops to pass on at least 512
// characters); dropping it here too keeps an input's oversized header out of every output.
const MAX_TRACESTATE = 512;

function single(value: HeaderValue): Buffer | string | null | undefined {
  return Array.isArray(value) ? (value.length === 1 ? value[0] : undefined) : value;
}

/** Random ids from a pooled buffer: one randomFillSync per 170 ids instead of one per id. */
const pool = Buffer.allocUnsafe(24 * 170);
let poolAt = pool.length;

export function newTraceparent(): string {
  if (poolAt + 24 > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const at = poolAt;
  poolAt += 24;
  // An all-zero id is invalid; with 128 random bits it is not going to happen, but be exact.
  pool[at + 15] = (pool[at + 15] as number) | 1;
  pool[at + 23] = (pool[at + 23] as number) | 1;
  return `00-${pool.toString('hex', at, at + 16)}-${pool.toString('hex', at + 16, at + 24)}-00`;
}

/** The trace headers for the record written on behalf of a message whose headers are `source`. */
export function forwardTraceHeaders(source: Headers): Headers {
  const parent = single(source[TRACEPARENT_HEADER]);
  if (parent !== undefined && parent !== null && parent.length <= 512 && TRACEPARENT.test(typeof parent === 'string' ? parent : parent.toString('latin1'))) {
    const state = single(source[TRACESTATE_HEADER]);
    return state === undefined || (state !== null && state.length > MAX_TRACESTATE) ? { [TRACEPARENT_HEADER]: parent } : { [TRACEPARENT_HEADER]: parent, [TRACESTATE_HEADER]: state };
  }
  return { [TRACEPARENT_HEADER]: newTraceparent() };
}
