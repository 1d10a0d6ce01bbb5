/**
 * The offset range of `stream-scorer backfill`: where each input partition starts and where it
 * ends (exclusive), from offsets or times. Parsed here; resolved against the broker's offsets
 * (low and high watermarks, offsets by timestamp) by resolveRange when the backfill starts.
 */
export type Bound =
  /** The same offset in every partition, or per partition (P:N,...); partitions not named take the default. */
  | { readonly kind: 'offset'; readonly all?: bigint; readonly partitions: ReadonlyMap<number, bigint> }
  /** The first record with a Kafka timestamp >= ms. */
  | { readonly kind: 'time'; readonly ms: number };

export interface RangeSpec {
  /** Unset: each partition's first offset (low watermark). */
  readonly from?: Bound;
  /** Exclusive. Unset: the end offsets (high watermarks) when the backfill starts. Never past those. */
  readonly to?: Bound;
}

function parseOffsets(flag: string, text: string): Bound {
  if (/^\d+$/.test(text)) return { kind: 'offset', all: BigInt(text), partitions: new Map() };
  const partitions = new Map<number, bigint>();
  for (const part of text.split(',')) {
    const match = /^(\d+):(\d+)$/.exec(part.trim());
    if (!match) throw new Error(`${flag} ${text}: an offset (N) or partition:offset pairs (0:100,1:250)`);
    partitions.set(Number(match[1]), BigInt(match[2] as string));
  }
  return { kind: 'offset', partitions };
}

export function parseTime(flag: string, text: string): Bound {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new Error(`${flag} ${text}: an ISO-8601 time (2026-11-30T12:00:00Z) or epoch milliseconds`);
  return { kind: 'time', ms };
}

export function parseRange(values: { 'from-offset'?: string; 'from-time'?: string; 'to-offset'?: string; 'to-time'?: string }): RangeSpec {
  if (values['from-offset'] !== undefined && values['from-time'] !== undefined) throw new Error('--from-offset and --from-time exclude each other');
  if (values['to-offset'] !== undefined && values['to-time'] !== undefined) throw new Error('--to-offset and --to-time exclude each other');
  const from = values['from-offset'] !== undefined ? parseOffsets('--from-offset', values['from-offset']) : values['from-time'] !== undefined ? parseTime('--from-time', values['from-time']) : undefined;
  const to = values['to-offset'] !== undefined ? parseOffsets('--to-offset', values['to-offset']) : values['to-time'] !== undefined ? parseTime('--to-time', values['to-time']) : undefined;
  return { ...(from ? { from } : {}), ...(to ? { to } : {}) };
}

export interface PartitionRange {
  readonly partition: number;
  /** First offset to read. */
  readonly start: bigint;
  /** Exclusive: the first offset not read. */
  readonly end: bigint;
}

export interface Watermarks {
  readonly partition: number;
  readonly low: bigint;
  readonly high: bigint;
}

function clamp(value: bigint, low: bigint, high: bigint): bigint {
  return value < low ? low : value > high ? high : value;
}

/**
 * Per partition [start, end), inside [low, high] seen at the start. `byTime` answers the first
 * offset with a timestamp >= ms per partition (the high watermark when there is none).
 */
export async function resolveRange(spec: RangeSpec, marks: readonly Watermarks[], byTime: (ms: number) => Promise<ReadonlyMap<number, bigint>>): Promise<PartitionRange[]> {
  const resolveBound = async (bound: Bound | undefined, fallback: (m: Watermarks) => bigint): Promise<(m: Watermarks) => bigint> => {
    if (!bound) return fallback;
    if (bound.kind === 'time') {
      const offsets = await byTime(bound.ms);
      return (m) => offsets.get(m.partition) ?? m.high;
    }
    return (m) => bound.partitions.get(m.partition) ?? bound.all ?? fallback(m);
  };
  const startOf = await resolveBound(spec.from, (m) => m.low);
  const endOf = await resolveBound(spec.to, (m) => m.high);
  return marks.map((m) => {
    const start = clamp(startOf(m), m.low, m.high);
    const end = clamp(endOf(m), start, m.high);
    return { partition: m.partition, start, end };
  });
}
