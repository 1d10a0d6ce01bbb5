import type { Config } from '../config/schema';
import { ServiceError } from '../errors';
import { assertPredictionSchemaFits, checkEventFields, readSchemaJson } from '../stages/check/prediction-fit';
import { assertSchemaFitsContract } from '../stages/check/schema-fit';
import { loadSchema } from '../stages/decode';
import { type Registry, type RegistrySettings, createRegistry, registrySettings, subjectFor } from '../formats/registry';
import { checkInputSubjects, describeInputSubject } from '../formats/subjects';
import { type ModelContract, readContract } from './contract';
import { sha256File } from './integrity';
import type { OutputPlan } from './outputs';
import { loadModel } from './session';

/**
 * `stream-scorer contract`: one screen a person can read before go-live. For every model input
 * and column, the field it comes from, its type, the categories known and where they were read,
 * the policies; then whether schema, manifest and graph agree. Each check runs on its own, so
 * one failure does not hide the others.
 */
export interface ContractCheck {
  readonly name: string;
  readonly ok: boolean;
  /** Passed, but a person should know (e.g. no version). */
  readonly warning?: boolean;
  readonly detail: string;
}

export interface ContractReport {
  readonly contract: ModelContract | undefined;
  readonly output: OutputPlan | undefined;
  readonly sha256: string | undefined;
  readonly checks: readonly ContractCheck[];
}

function message(error: unknown): string {
  return error instanceof ServiceError ? error.message : (error as Error).message;
}

export async function contractReport(config: Config): Promise<ContractReport> {
  const checks: ContractCheck[] = [];
  let contract: ModelContract | undefined;
  let output: OutputPlan | undefined;
  let sha256: string | undefined;
  try {
    sha256 = sha256File(config.modelPath);
    if (config.modelSha256 !== undefined) {
      const ok = sha256 === config.modelSha256.toLowerCase();
      checks.push({ name: 'MODEL_SHA256 pin', ok, detail: ok ? 'the file is the pinned one' : `the file has sha256 ${sha256}, MODEL_SHA256 pins ${config.modelSha256}` });
    }
    contract = readContract(config.modelPath, { name: config.modelName, version: config.modelVersion, manifestPath: config.modelManifest });
    checks.push({ name: 'graph and manifest', ok: true, detail: `every graph input is fed${contract.manifestPath ? ` (manifest ${contract.manifestPath})` : ' (no manifest: input names are field names)'}` });
  } catch (error) {
    checks.push({ name: 'graph and manifest', ok: false, detail: message(error) });
    return { contract, output, sha256, checks };
  }
  try {
    assertSchemaFitsContract(loadSchema(config.inputSchema, 'INPUT_SCHEMA'), contract.features, `INPUT_SCHEMA=${config.inputSchema}`);
    checks.push({ name: 'input schema', ok: true, detail: `${config.inputSchema} has every field, with a type its tensor takes` });
  } catch (error) {
    checks.push({ name: 'input schema', ok: false, detail: message(error) });
  }
  const warnings: string[] = [];
  try {
    const model = await loadModel(contract, { intraOpThreads: 1, scoreOutput: config.scoreOutput, labelOutput: config.labelOutput, positiveClassIndex: config.positiveClassIndex, warn: (w) => warnings.push(w) });
    output = model.output;
    await model.session.release();
    checks.push({ name: 'outputs', ok: true, warning: warnings.length > 0, detail: `onnxruntime loads the model${warnings.length > 0 ? `; but ${warnings.join('; ')}` : ' and scores a sample event'}` });
  } catch (error) {
    checks.push({ name: 'outputs', ok: false, detail: message(error) });
  }
  if (output) {
    try {
      const eventFields = checkEventFields(readSchemaJson(config.inputSchema, 'INPUT_SCHEMA'), config, `INPUT_SCHEMA=${config.inputSchema}`);
      const ctx = { type: loadSchema(config.predictionSchema, 'PREDICTION_SCHEMA'), modelName: contract.name, modelVersion: contract.version, eventIdField: config.eventIdField, eventTimeField: config.eventTimeField, classes: output.kind === 'regressor' ? [] : output.classes };
      assertPredictionSchemaFits(ctx, eventFields, { topics: config.inputTopics }, `PREDICTION_SCHEMA=${config.predictionSchema}`);
      checks.push({ name: 'prediction schema', ok: true, detail: `${config.predictionSchema} holds every prediction` });
    } catch (error) {
      checks.push({ name: 'prediction schema', ok: false, detail: message(error) });
    }
  }
  await registryChecks(config, contract, checks);
  if (contract.versionFrom === 'file hash') checks.push({ name: 'version', ok: true, warning: true, detail: `nobody gave the model a version; predictions carry ${contract.version} (set version: in the manifest)` });
  return { contract, output, sha256, checks };
}

/** With a registry: can INPUT_SCHEMA read the latest input version, and is the prediction schema registered. */
async function registryChecks(config: Config, contract: ModelContract, checks: ContractCheck[]): Promise<void> {
  if (config.inputFormat !== 'confluent' && config.outputFormat !== 'confluent') return;
  let registry: Registry;
  try {
    registry = createRegistry(registrySettings(config) as RegistrySettings);
  } catch (error) {
    checks.push({ name: 'schema registry', ok: false, detail: message(error) });
    return;
  }
  try {
    if (config.inputFormat === 'confluent') {
      const reader = loadSchema(config.inputSchema, 'INPUT_SCHEMA');
      for (const report of await checkInputSubjects(registry, config, reader, contract.features.eventPaths)) {
        const { ok, text } = describeInputSubject(report);
        checks.push({ name: `input subject ${report.subject}`, ok, detail: text });
      }
    }
    if (config.outputFormat === 'confluent') {
      const type = loadSchema(config.predictionSchema, 'PREDICTION_SCHEMA');
      const subject = subjectFor(config.schemaRegistrySubjectStrategy, config.outputTopic, type.name);
      const id = await registry.lookup(subject, readSchemaJson(config.predictionSchema, 'PREDICTION_SCHEMA'));
      checks.push(
        id !== undefined
          ? { name: `output subject ${subject}`, ok: true, detail: `PREDICTION_SCHEMA is registered there as id ${id}` }
          : { name: `output subject ${subject}`, ok: config.schemaRegistryAutoRegister, warning: true, detail: `PREDICTION_SCHEMA is not registered there${config.schemaRegistryAutoRegister ? ' yet; start-up registers it (SCHEMA_REGISTRY_AUTO_REGISTER=true)' : ', and SCHEMA_REGISTRY_AUTO_REGISTER=false: start-up will refuse'}` },
      );
    }
  } catch (error) {
    checks.push({ name: 'schema registry', ok: false, detail: message(error) });
  }
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd());
}

function categoriesText(categories: ReadonlySet<string> | undefined, from: string | undefined): string {
  if (!categories) return '-';
  const text = `${categories.size} (${from}): ${[...categories].join(',')}`;
  return text.length > 48 ? `${text.slice(0, 47)}…` : text;
}

export function formatContractReport(report: ContractReport, config: Pick<Config, 'modelPath' | 'inputSchema'>): string {
  const lines: string[] = [];
  const { contract, output } = report;
  if (contract) {
    lines.push(`model     ${contract.name} ${contract.version} (version from ${contract.versionFrom})`);
    lines.push(`file      ${config.modelPath}${report.sha256 ? ` sha256 ${report.sha256.slice(0, 16)}…` : ''}`);
    lines.push(`manifest  ${contract.manifestPath ?? '(none: each graph input is fed by the top-level field of its name)'}`);
    lines.push(`schema    ${config.inputSchema}`);
    lines.push('');
    lines.push('inputs');
    const rows: string[][] = [['field', 'feeds', 'kind', 'tensor', 'categories known', 'missing', 'unknown']];
    for (const feed of contract.features.tensors) {
      for (const column of feed.columns) {
        const stored = column.source === 'store' ? contract.features.store.features.find((f) => f.name === column.name) : undefined;
        let missing: string = column.missing === 'default' ? `default ${String(column.missingValue)}` : column.missing;
        // A store column's missing value is the store feature's policy (docs/feature-store.md).
        if (stored) missing = `${stored.missing === 'default' ? `default ${stored.default}` : stored.missing}; down: ${stored.unavailable === 'default' ? `default ${stored.default}` : stored.unavailable}`;
        const unknown = column.kind !== 'categorical' ? '-' : column.unknown === 'score-and-flag' && column.codes ? `score-and-flag (code ${column.unknownCode})` : column.unknown;
        const feeds = feed.width > 1 ? `${feed.name}[${column.column}]` : feed.name;
        rows.push([
          stored ? `${column.name} (store ${stored.key.text} ${stored.hashField})` : column.name,
          feeds === column.name ? '=' : feeds,
          column.kind,
          `${column.element}${column.codes ? ' codes' : ''}`,
          column.kind === 'categorical' ? categoriesText(column.categories, column.categoriesFrom) : '-',
          missing,
          unknown,
        ]);
      }
    }
    lines.push(...table(rows).map((l) => `  ${l}`));
    lines.push('');
  }
  if (output) {
    lines.push('output');
    if (output.kind === 'regressor') lines.push(`  regressor: score = "${output.scores}" (the predicted value); no label`);
    else if (output.kind === 'probability') lines.push(`  probability: score = ${output.transform === 'sigmoid' ? 'sigmoid of ' : ''}"${output.scores}" = P(${output.classes[1]}); classes ${output.classes.join(', ')}`);
    else lines.push(`  classifier: score = "${output.scores}"[${output.positive}] = P(${output.classes[output.positive]}); classes ${output.classes.join(', ')}; label from ${output.label ? `"${output.label}"` : 'the most probable class'}`);
    lines.push('');
  }
  lines.push('checks');
  for (const check of report.checks) lines.push(`  ${!check.ok ? 'FAIL' : check.warning ? 'warn' : 'ok  '} ${check.name}: ${check.detail}`);
  return lines.join('\n');
}
