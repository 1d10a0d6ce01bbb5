import { parseSince } from '../monitor/cli';

/** Where re-driven records go: back to their input topic, or scored here into OUTPUT_TOPIC. */
export type RedriveTarget = 'input' | 'output';

/** Which dead letters a re-drive selects: every given criterion must hold (the current, last value of each header). */
export interface RedriveFilter {
  readonly reason?: string;
  readonly field?: string;
  readonly value?: string;
  readonly modelVersion?: string;
  /** Dead-lettered at or after (scorer.failed.at, epoch ms). */
  readonly since?: number;
  /** Dead-lettered before (scorer.failed.at, epoch ms). */
  readonly until?: number;
}

export interface RedriveArgs {
  readonly filter: RedriveFilter;
  readonly to: RedriveTarget;
  /** False: print the dry-run summary only. */
  readonly apply: boolean;
  /** How many field/value pairs the summary lists. */
  readonly top: number;
  /** A dead letter re-driven this many times already is skipped (no endless loop of a record that always fails). */
  readonly maxRedrives: number;
}

export const REDRIVE_USAGE = `usage: stream-scorer redrive [--reason CODE] [--field FIELD] [--value VALUE] [--model-version V]
                             [--since TIME] [--until TIME] [--to input|output] [--top N] [--max-redrives N] [--apply|--yes]`;

function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} ${JSON.stringify(text)}: expected a positive integer`);
  return n;
}

/** `--since`/`--until` take an ISO time, epoch milliseconds or a duration back from now (90m, 6h, 2d), as `drift --since`. */
export function parseRedriveArgs(args: readonly string[], now = Date.now()): RedriveArgs {
  const filter: { -readonly [K in keyof RedriveFilter]: RedriveFilter[K] } = {};
  let to: RedriveTarget = 'input';
  let apply = false;
  let top = 10;
  let maxRedrives = 3;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? args[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--reason':
        filter.reason = value();
        break;
      case '--field':
        filter.field = value();
        break;
      case '--value':
        filter.value = value();
        break;
      case '--model-version':
        filter.modelVersion = value();
        break;
      case '--since':
        filter.since = parseSince(value(), now);
        break;
      case '--until':
        filter.until = parseSince(value(), now);
        break;
      case '--to': {
        const v = value();
        if (v !== 'input' && v !== 'output') throw new Error(`--to ${JSON.stringify(v)}: expected input or output`);
        to = v;
        break;
      }
      case '--top':
        top = positiveInt(flag, value());
        break;
      case '--max-redrives':
        maxRedrives = positiveInt(flag, value());
        break;
      case '--apply':
      case '--yes':
        apply = true;
        break;
      default:
        throw new Error(`unknown option ${JSON.stringify(arg)}\n${REDRIVE_USAGE}`);
    }
  }
  if (filter.since !== undefined && filter.until !== undefined && filter.since >= filter.until) throw new Error('--since must be before --until');
  return { filter, to, apply, top, maxRedrives };
}
