import { parseArgs } from 'node:util';
import type { Config } from '../config/schema';
import type { Logger } from '../telemetry/logger';
import { formatSummary } from './run';
import { type BatchSummary, exitCodeOf } from './types';

/** Exit code for a command line that cannot be understood (as the CLI's unknown command). */
export const EXIT_USAGE = 2;

export const SCORE_FILE_USAGE = 'usage: stream-scorer score-file IN.avro [--out DIR] [--codec deflate|null] [--json]';
export const BACKFILL_USAGE =
  'usage: stream-scorer backfill (--from-offset N|P:N,... | --from-time TIME) (--to-offset N|P:N,... | --to-time TIME) --to-topic T [--dead-letter-topic T2] [--json]';

function usage(text: string, error: unknown): number {
  process.stderr.write(`stream-scorer: ${(error as Error).message}\n${text}\n`);
  return EXIT_USAGE;
}

function report(summary: BatchSummary, json: boolean): number {
  const code = exitCodeOf(summary);
  process.stdout.write(json ? `${JSON.stringify({ ...summary, exitCode: code })}\n` : `${formatSummary(summary)}\n`);
  return code;
}

export async function scoreFileCommand(config: Config, logger: Logger, argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { out: { type: 'string' }, codec: { type: 'string' }, json: { type: 'boolean' } } });
    if (parsed.positionals.length !== 1) throw new Error(`score-file takes one input file, got ${parsed.positionals.length}`);
    if (parsed.values.codec !== undefined && parsed.values.codec !== 'deflate' && parsed.values.codec !== 'null') throw new Error(`--codec ${parsed.values.codec}: deflate or null`);
  } catch (error) {
    return usage(SCORE_FILE_USAGE, error);
  }
  const { scoreFile } = await import('./score-file');
  const codec = parsed.values.codec as 'deflate' | 'null' | undefined;
  const summary = await scoreFile(config, logger, { input: parsed.positionals[0] as string, ...(parsed.values.out ? { outDir: parsed.values.out } : {}), ...(codec ? { codec } : {}) }, { progress: process.stderr });
  return report(summary, parsed.values.json === true);
}

export async function backfillCommand(config: Config, logger: Logger, argv: string[]): Promise<number> {
  let range;
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        'from-offset': { type: 'string' },
        'from-time': { type: 'string' },
        'to-offset': { type: 'string' },
        'to-time': { type: 'string' },
        'to-topic': { type: 'string' },
        'dead-letter-topic': { type: 'string' },
        json: { type: 'boolean' },
      },
    });
    const { parseRange } = await import('./range');
    range = parseRange(parsed.values);
    if (!parsed.values['to-topic']) throw new Error('--to-topic is required (predictions go there; dead letters to <to-topic>.dead-letter unless --dead-letter-topic)');
  } catch (error) {
    return usage(BACKFILL_USAGE, error);
  }
  const { backfill } = await import('./backfill');
  const toTopic = parsed.values['to-topic'] as string;
  const summary = await backfill(config, logger, { range, toTopic, deadLetterTopic: parsed.values['dead-letter-topic'] ?? `${toTopic}.dead-letter` }, { progress: process.stderr });
  return report(summary, parsed.values.json === true);
}
