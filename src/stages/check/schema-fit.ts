import type avro from 'avsc';
import { ServiceError } from '../../errors';
import type { FeatureColumn, FeaturePlan } from '../../features/plan';

const NUMERIC = new Set(['int', 'long', 'float', 'double', 'boolean']);
const INTEGRAL = new Set(['int', 'long', 'boolean']);
const CATEGORY = new Set(['string', 'enum']);
const INTEGER_CATEGORY = new Set(['string', 'enum', 'int', 'long']);

/** A type with its null branch looked through: nullable columns are unions of null and one type. */
function nonNull(type: avro.Type): avro.Type | undefined {
  const branches = (type as unknown as { types?: avro.Type[] }).types;
  const candidates = branches ? branches.filter((t) => t.typeName !== 'null') : [type];
  if (candidates.length !== 1) return undefined;
  const only = candidates[0] as avro.Type;
  return only.typeName.startsWith('logical:') ? (only as unknown as { underlyingType: avro.Type }).underlyingType : only;
}

function fieldsOf(type: avro.Type): { name: string; type: avro.Type }[] {
  return (type as unknown as { fields?: { name: string; type: avro.Type }[] }).fields ?? [];
}

/** The Avro type at a field path, or what is wrong with the path. */
function typeAt(schema: avro.Type, column: Pick<FeatureColumn, 'path'>): avro.Type | string {
  let type: avro.Type | undefined = schema;
  for (let i = 0; i < column.path.length; i += 1) {
    const part = column.path[i] as string;
    const record: avro.Type | undefined = i === 0 ? type : nonNull(type as avro.Type);
    if (!record || record.typeName !== 'record') return `${column.path.slice(0, i).join('.')} is not a record (it is ${JSON.stringify((type as avro.Type).schema())})`;
    const field: { name: string; type: avro.Type } | undefined = fieldsOf(record).find((f) => f.name === part);
    if (!field) {
      const names = fieldsOf(record).map((f) => f.name);
      return `${i === 0 ? 'the record' : column.path.slice(0, i).join('.')} has no field "${part}" (it has ${names.slice(0, 15).join(', ')}${names.length > 15 ? ', …' : ''})`;
    }
    type = field.type;
  }
  return type as avro.Type;
}

/**
 * Refuses to start when the input schema cannot feed the model: a field the plan names that the
 * schema lacks, or has with a type that can never fit its tensor. Per-event nulls are checked later.
 */
export function assertSchemaFitsContract(schema: avro.Type, plan: FeaturePlan, schemaSetting: string): void {
  const problems: string[] = [];
  for (const column of plan.columns) {
    // Store features are not in the event: the enrich stage looks them up (their key fields are checked below).
    if (column.source === 'store') continue;
    const feeds = `${plan.tensors[column.tensor]?.name}${(plan.tensors[column.tensor]?.width ?? 1) > 1 ? `[${column.column}]` : ''}`;
    const found = typeAt(schema, column);
    if (typeof found === 'string') {
      problems.push(`field "${column.name}" (feeds model input ${feeds}): ${schemaSetting}: ${found}`);
      continue;
    }
    const base = nonNull(found)?.typeName;
    let fits: boolean;
    if (column.kind === 'categorical') fits = base !== undefined && (column.integerCategories ? INTEGER_CATEGORY : CATEGORY).has(base);
    else if (column.element === 'int64' || column.element === 'int32' || column.element === 'bool') fits = base !== undefined && INTEGRAL.has(base);
    else fits = base !== undefined && NUMERIC.has(base);
    if (!fits) {
      const want = column.kind === 'categorical' ? 'a string or enum' : column.element === 'float' || column.element === 'double' ? 'a number' : `a whole number (int, long or boolean) for its ${column.element} tensor`;
      problems.push(`field "${column.name}" (${column.kind}, feeds model input ${feeds}) must be ${want}, but is ${JSON.stringify(found.schema())} in ${schemaSetting}`);
    }
  }
  for (const path of plan.store.eventPaths) {
    const found = typeAt(schema, { path });
    const name = path.join('.');
    const users = plan.store.features.filter((f) => f.key.parts.some((p) => typeof p !== 'string' && p.field === name)).map((f) => f.name);
    if (typeof found === 'string') problems.push(`field "${name}" (builds the store key of ${users.join(', ')}): ${schemaSetting}: ${found}`);
    else if (!INTEGER_CATEGORY.has(nonNull(found)?.typeName ?? '')) problems.push(`field "${name}" (builds the store key of ${users.join(', ')}) must be a string, enum, int or long, but is ${JSON.stringify(found.schema())} in ${schemaSetting}`);
  }
  if (problems.length > 0) throw new ServiceError('CONTRACT_MISMATCH', problems.join('; '));
}
