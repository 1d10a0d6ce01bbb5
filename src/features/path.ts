import type { InputEvent } from '../stages/decode';

/**
 * The value at a field path of a decoded event: undefined when a record on the way is null or
 * absent. avsc unwraps unions, so a nullable nested record is the record itself or null.
 */
export function valueAt(event: InputEvent, path: readonly string[]): unknown {
  let value: unknown = event[path[0] as string];
  for (let i = 1; i < path.length; i += 1) {
    if (value === null || value === undefined || typeof value !== 'object') return value === null ? null : undefined;
    value = (value as Record<string, unknown>)[path[i] as string];
  }
  return value;
}
