/** A value parser: raw text (env) or JSON value (file) in, typed value out, or a reason it is bad. */
export interface Parser<T> {
  readonly kind: string;
  /**
   * True when an empty value is a value of its own (e.g. "no such field") rather than "not set".
   * Without it, an empty variable falls back to the file and then to the default, as a blank
   * line in an env file usually means.
   */
  readonly emptyIsValue?: boolean;
  parse(raw: unknown): T;
}

class BadValue extends Error {}
export { BadValue };

function text(raw: unknown): string {
  if (typeof raw === 'string') return raw.trim();
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  throw new BadValue(`expected a string, got ${typeof raw}`);
}

export function str(opts: { nonEmpty?: boolean; pattern?: RegExp; kind?: string } = {}): Parser<string> {
  return {
    kind: opts.kind ?? (opts.pattern ? `string matching ${opts.pattern}` : 'string'),
    parse(raw) {
      const value = text(raw);
      if (opts.nonEmpty !== false && value === '') throw new BadValue('must not be empty');
      if (opts.pattern && !opts.pattern.test(value)) throw new BadValue(`is not a ${opts.kind ?? `string matching ${opts.pattern}`}`);
      return value;
    },
  };
}

export function int(min: number, max: number): Parser<number> {
  return {
    kind: `integer ${min}..${max}`,
    parse(raw) {
      const value = typeof raw === 'number' ? raw : Number(text(raw));
      if (!Number.isInteger(value)) throw new BadValue('is not an integer');
      if (value < min || value > max) throw new BadValue(`must be between ${min} and ${max}`);
      return value;
    },
  };
}

export function bool(): Parser<boolean> {
  return {
    kind: 'boolean (true/false)',
    parse(raw) {
      if (typeof raw === 'boolean') return raw;
      const value = text(raw).toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(value)) return true;
      if (['false', '0', 'no', 'off'].includes(value)) return false;
      throw new BadValue('is not a boolean');
    },
  };
}

export function oneOf<const T extends string>(...choices: T[]): Parser<T> {
  return {
    kind: `one of ${choices.join(', ')}`,
    parse(raw) {
      const value = text(raw);
      if (!(choices as string[]).includes(value)) throw new BadValue(`must be one of ${choices.join(', ')}`);
      return value as T;
    },
  };
}

/** Comma-separated in the environment, an array in a file. */
export function list(item: Parser<string>, opts: { nonEmpty?: boolean } = {}): Parser<readonly string[]> {
  return {
    kind: `comma-separated ${item.kind} list`,
    parse(raw) {
      const parts = Array.isArray(raw)
        ? raw.map((part) => item.parse(part))
        : text(raw)
            .split(',')
            .map((part) => part.trim())
            .filter((part) => part !== '')
            .map((part) => item.parse(part));
      if (opts.nonEmpty !== false && parts.length === 0) throw new BadValue('must name at least one item');
      return Object.freeze(parts);
    },
  };
}

/** A finite decimal number in [min, max]. */
export function num(min: number, max: number): Parser<number> {
  return {
    kind: `number ${min}..${max}`,
    parse(raw) {
      const value = typeof raw === 'number' ? raw : Number(text(raw));
      if (!Number.isFinite(value)) throw new BadValue('is not a number');
      if (value < min || value > max) throw new BadValue(`must be between ${min} and ${max}`);
      return value;
    },
  };
}

export const hostPort = str({ pattern: /^[A-Za-z0-9._-]+:\d{1,5}$/, kind: 'host:port' });
export const topicName = str({ pattern: /^[A-Za-z0-9._-]{1,249}$/, kind: 'Kafka topic name (letters, digits, . _ -)' });

/**
 * The name of a top-level field of an Avro record, or the empty string for "none". Avro names
 * cannot contain dots, so a nested path (meta.id) is refused here rather than at every event.
 */
export function fieldNameOrNone(): Parser<string> {
  const pattern = /^[A-Za-z_][A-Za-z0-9_]*$/;
  return {
    kind: 'Avro field name, or empty for none',
    emptyIsValue: true,
    parse(raw) {
      const value = text(raw);
      if (value !== '' && !pattern.test(value)) throw new BadValue('is not an Avro field name (letters, digits, _; a top-level field, no dotted paths)');
      return value;
    },
  };
}

/** Comma-separated numbers in the environment (an array in a file), each within min..max, at least one. */
export function numList(min: number, max: number): Parser<readonly number[]> {
  const item = num(min, max);
  return {
    kind: `comma-separated list of numbers ${min}..${max}`,
    parse(raw) {
      const parts = Array.isArray(raw) ? raw : text(raw).split(',').map((part) => part.trim()).filter((part) => part !== '');
      if (parts.length === 0) throw new BadValue('must name at least one number');
      return Object.freeze([...new Set(parts.map((part) => item.parse(part)))].sort((a, b) => a - b));
    },
  };
}
