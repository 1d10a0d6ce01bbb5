import type avro from 'avsc';
import fc from 'fast-check';

export interface ArbitraryOptions {
  /** Most items of one array / entries of one map (small keeps payloads, and fuzz runs, short). */
  readonly maxItems?: number;
  /** Longest string, bytes value or map key. */
  readonly maxLength?: number;
  /** ASCII strings (realistic for benchmarks) instead of any code point (better for fuzzing). */
  readonly ascii?: boolean;
}

/**
 * Valid values of an avsc type as a fast-check arbitrary, so fuzz cases are reproducible from
 * fast-check's seed (avsc's own `type.random()` draws from an unseeded generator).
 * Recursive schemas are not supported: none of the test schemas is one.
 */
export function avroArbitrary(type: avro.Type, options: ArbitraryOptions = {}): fc.Arbitrary<unknown> {
  const maxItems = options.maxItems ?? 4;
  const maxLength = options.maxLength ?? 12;
  const unit = options.ascii ? 'grapheme-ascii' : 'binary';
  const seen = new Set<avro.Type>();

  const of = (t: avro.Type): fc.Arbitrary<unknown> => {
    if (seen.has(t) && t.typeName === 'record') throw new Error(`recursive schema at ${t.name ?? t.typeName}: not supported`);
    const shape = t as unknown as TypeShape;
    switch (t.typeName) {
      case 'null':
        return fc.constant(null);
      case 'boolean':
        return fc.boolean();
      case 'int':
        return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
      case 'long':
        // avsc refuses longs beyond ±(2^53 − 2) (isSafeLong), one short of Number's safe range.
        return fc.integer({ min: -(2 ** 53 - 2), max: 2 ** 53 - 2 });
      case 'float':
        return fc.float();
      case 'double':
        return fc.double();
      case 'string':
        return fc.string({ maxLength, unit });
      case 'bytes':
        return fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
      case 'fixed':
        return fc.uint8Array({ minLength: shape.size ?? 0, maxLength: shape.size ?? 0 }).map((a) => Buffer.from(a));
      case 'enum':
        return fc.constantFrom(...(shape.symbols ?? []));
      case 'array':
        return fc.array(of(shape.itemsType as avro.Type), { maxLength: maxItems });
      case 'map':
        return fc.dictionary(fc.string({ maxLength: Math.min(maxLength, 8), unit }), of(shape.valuesType as avro.Type), { maxKeys: maxItems, noNullPrototype: true });
      case 'record': {
        seen.add(t);
        const fields: Record<string, fc.Arbitrary<unknown>> = {};
        for (const field of shape.fields ?? []) fields[field.name] = of(field.type);
        seen.delete(t);
        return fc.record(fields);
      }
      case 'union:unwrapped':
        return fc.oneof(...(shape.types ?? []).map(of));
      case 'union:wrapped':
        return fc.oneof(...(shape.types ?? []).map((branch) => (branch.typeName === 'null' ? fc.constant(null) : of(branch).map((v) => ({ [branch.branchName ?? '']: v })))));
      default:
        if (t.typeName.startsWith('logical:') && shape.underlyingType) return of(shape.underlyingType);
        throw new Error(`no arbitrary for Avro type ${t.typeName}`);
    }
  };
  return of(type);
}

/** The parts of avsc's type classes this file reads (the typings declare them per subclass). */
interface TypeShape {
  readonly size?: number;
  readonly symbols?: string[];
  readonly itemsType?: avro.Type;
  readonly valuesType?: avro.Type;
  readonly fields?: { readonly name: string; readonly type: avro.Type }[];
  readonly types?: avro.Type[];
  readonly underlyingType?: avro.Type;
}
