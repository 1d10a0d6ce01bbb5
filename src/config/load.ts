import { readFileSync } from 'node:fs';
import { ServiceError } from '../errors';
import { type Config, SETTINGS, type SettingKey } from './schema';
import { BadValue } from './types';

export const CONFIG_FILE_ENV = 'STREAM_SCORER_CONFIG';

type Source = Readonly<Record<string, unknown>>;

function readConfigFile(path: string): Source {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ServiceError('CONFIG_INVALID', `${CONFIG_FILE_ENV}=${path}: cannot read a JSON object from it (${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ServiceError('CONFIG_INVALID', `${CONFIG_FILE_ENV}=${path}: must hold a JSON object keyed by setting names (e.g. "KAFKA_BROKERS")`);
  }
  const known = new Set(Object.values(SETTINGS).map((s) => s.env));
  const unknown = Object.keys(parsed).filter((key) => !known.has(key));
  if (unknown.length > 0) {
    throw new ServiceError('CONFIG_INVALID', `${path}: unknown setting(s) ${unknown.join(', ')}; see docs/configuration.md`);
  }
  return parsed as Source;
}

/**
 * Builds the one frozen configuration object. Environment beats file beats default; an empty
 * value counts as not set, except for settings where empty means "none" (EVENT_ID_FIELD=).
 * Every bad key is reported at once, each with its value and what was expected.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const filePath = env[CONFIG_FILE_ENV];
  const file: Source = filePath ? readConfigFile(filePath) : {};
  const problems: string[] = [];
  const values: Partial<Record<SettingKey, unknown>> = {};

  for (const key of Object.keys(SETTINGS) as SettingKey[]) {
    const setting = SETTINGS[key];
    const emptyIsValue = setting.parser.emptyIsValue === true;
    const given = (value: unknown): boolean => value !== undefined && value !== null && (value !== '' || emptyIsValue);
    const fromEnv = env[setting.env];
    const raw = given(fromEnv) ? fromEnv : file[setting.env];
    if (!given(raw)) {
      if ('default' in setting) values[key] = setting.default;
      continue;
    }
    try {
      values[key] = setting.parser.parse(raw);
    } catch (error) {
      if (!(error instanceof BadValue)) throw error;
      const origin = given(fromEnv) ? 'environment' : filePath;
      problems.push(`${setting.env}=${JSON.stringify(raw)} (${origin}): ${error.message}; expected ${setting.parser.kind}`);
    }
  }
  problems.push(...shadowProblems(values));
  if (problems.length > 0) {
    throw new ServiceError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return Object.freeze(values) as Config;
}

/** Shadow scoring: SHADOW_TOPIC goes with SHADOW_MODEL_PATH, and is neither of the champion's topics. */
function shadowProblems(values: Partial<Record<SettingKey, unknown>>): string[] {
  const path = values.shadowModelPath;
  const topic = values.shadowTopic;
  if (path === undefined) {
    if (values.shadowModelManifest !== undefined) return ['SHADOW_MODEL_MANIFEST is set but SHADOW_MODEL_PATH is not: set SHADOW_MODEL_PATH (and SHADOW_TOPIC) to score with a challenger'];
    return [];
  }
  if (topic === undefined) return [`SHADOW_TOPIC is required when SHADOW_MODEL_PATH is set (SHADOW_MODEL_PATH=${JSON.stringify(path)}): the topic the challenger's predictions go to`];
  if (topic === values.outputTopic) return [`SHADOW_TOPIC=${JSON.stringify(topic)} is OUTPUT_TOPIC: the challenger's predictions never go to the champion's topic`];
  if (topic === values.deadLetterTopic) return [`SHADOW_TOPIC=${JSON.stringify(topic)} is DEAD_LETTER_TOPIC: give the challenger's predictions a topic of their own`];
  return [];
}
