import type avro from 'avsc';
import { ServiceError } from '../../errors';
import type { ModelContract } from '../../model/contract';

const NUMERIC = new Set(['int', 'long', 'float', 'double']);

function baseTypeName(type: avro.Type): string | undefined {
  // Nullable columns are unions of null and one type: look through the null branch.
  const branches = (type as unknown as { types?: avro.Type[] }).types;
  const candidates = branches ? branches.filter((t) => t.typeName !== 'null') : [type];
  if (candidates.length !== 1) return undefined;
  const only = candidates[0] as avro.Type;
  return only.typeName.startsWith('logical:') ? (only as unknown as { underlyingType: avro.Type }).underlyingType.typeName : only.typeName;
}

/**
 * Refuses to start when the input schema cannot feed the model: a model column the schema
 * does not have, or has with a type that can never fit. Per-event nulls are checked later.
 */
export function assertSchemaFitsContract(schema: avro.Type, contract: ModelContract, schemaSetting: string): void {
  const fields = new Map(((schema as unknown as { fields?: { name: string; type: avro.Type }[] }).fields ?? []).map((f) => [f.name, f.type]));
  const problems: string[] = [];
  for (const input of contract.inputs) {
    const field = fields.get(input.name);
    if (!field) {
      problems.push(`model input "${input.name}" has no field in ${schemaSetting}`);
      continue;
    }
    const base = baseTypeName(field);
    const fits = input.kind === 'categorical' ? base === 'string' || base === 'enum' : base !== undefined && NUMERIC.has(base);
    if (!fits) problems.push(`model input "${input.name}" (${input.kind}) cannot be fed from Avro type ${JSON.stringify(field.schema())}`);
  }
  if (problems.length > 0) throw new ServiceError('CONTRACT_MISMATCH', problems.join('; '));
}
