import type avro from 'avsc';

/**
 * Which model fields a writer schema does not carry. Avro resolution fills a reader field the
 * writer lacks with the reader's default: correct for the record, but for a model input it means
 * scoring a made-up value. So a writer that lacks a field the model reads is refused per schema
 * id (SCHEMA_INCOMPATIBLE), even when resolution itself would succeed.
 */
interface FieldLike {
  readonly name: string;
  readonly type: avro.Type;
  readonly aliases?: readonly string[];
}

function fieldsOf(type: avro.Type | undefined): readonly FieldLike[] | undefined {
  if (!type) return undefined;
  const branches = (type as unknown as { types?: avro.Type[] }).types;
  const record = branches ? branches.find((t) => t.typeName === 'record') : type;
  if (!record || record.typeName !== 'record') return undefined;
  return (record as unknown as { fields: FieldLike[] }).fields;
}

function aliasesOf(field: FieldLike): readonly string[] {
  // avsc keeps field aliases on the field (fully qualified names are not used for fields).
  const aliases = (field as { aliases?: unknown }).aliases ?? (field as unknown as { _aliases?: unknown })._aliases;
  return Array.isArray(aliases) ? (aliases as string[]) : [];
}

/** The dotted reader paths among `paths` that the writer schema does not carry (by name or reader alias). */
export function pathsMissingInWriter(reader: avro.Type, writer: avro.Type, paths: readonly (readonly string[])[]): string[] {
  const missing: string[] = [];
  for (const path of paths) {
    let readerType: avro.Type | undefined = reader;
    let writerType: avro.Type | undefined = writer;
    for (const part of path) {
      const readerField: FieldLike | undefined = fieldsOf(readerType)?.find((f) => f.name === part);
      const names = readerField ? [part, ...aliasesOf(readerField)] : [part];
      const writerField: FieldLike | undefined = fieldsOf(writerType)?.find((f) => names.includes(f.name));
      if (!writerField) {
        missing.push(path.join('.'));
        break;
      }
      readerType = readerField?.type;
      writerType = writerField.type;
    }
  }
  return missing;
}

/**
 * The reader field path at which a writer schema cannot be resolved (avsc says "cannot read
 * "string" as "long"" without saying where), or undefined when it cannot tell.
 */
export function unresolvableField(reader: avro.Type, writer: avro.Type, prefix = ''): string | undefined {
  const readerFields = fieldsOf(reader);
  const writerFields = fieldsOf(writer);
  if (!readerFields || !writerFields) return undefined;
  for (const field of readerFields) {
    const names = [field.name, ...aliasesOf(field)];
    const written = writerFields.find((f) => names.includes(f.name));
    const path = `${prefix}${field.name}`;
    if (!written) {
      if ((field as { defaultValue?: () => unknown }).defaultValue?.() === undefined) return path;
      continue;
    }
    try {
      field.type.createResolver(written.type);
    } catch {
      return unresolvableField(field.type, written.type, `${path}.`) ?? path;
    }
  }
  return undefined;
}
