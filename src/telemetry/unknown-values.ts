/**
 * Counts of unknown category values per column with a bounded number of series: at most
 * `named` values per column are counted under their own name, every other occurrence under
 * "__other__". A named value that stays idle for `idleCollections` collections gives its slot
 * up; free slots go first to new values as they arrive, then (at collection) to the most
 * frequent values counted under "__other__" since the last collection (a named series starts at
 * 0). Each series only ever grows, as a Prometheus counter must; a value that loses its slot and
 * wins one back later starts a new series, which Prometheus reads as a counter reset.
 */
export const OTHER = '__other__';
const MAX_CANDIDATES = 1_000;
const MAX_VALUE_LENGTH = 64;

interface Column {
  readonly named: Map<string, { count: number; idle: number }>;
  other: number;
  readonly candidates: Map<string, number>;
}

export class UnknownValueCounts {
  private readonly columns = new Map<string, Column>();

  constructor(
    private readonly named: number,
    private readonly idleCollections = 20,
  ) {}

  add(column: string, rawValue: string): void {
    const value = rawValue.length > MAX_VALUE_LENGTH ? `${rawValue.slice(0, MAX_VALUE_LENGTH)}…` : rawValue;
    let state = this.columns.get(column);
    if (!state) this.columns.set(column, (state = { named: new Map(), other: 0, candidates: new Map() }));
    const entry = state.named.get(value);
    if (entry) {
      entry.count += 1;
      entry.idle = 0;
    } else if (state.named.size < this.named && value !== OTHER) {
      state.named.set(value, { count: 1, idle: 0 });
    } else {
      state.other += 1;
      if (state.candidates.has(value) || state.candidates.size < MAX_CANDIDATES) state.candidates.set(value, (state.candidates.get(value) ?? 0) + 1);
    }
  }

  /** The current series, after freeing idle slots and refilling them. */
  collect(): { column: string; value: string; count: number }[] {
    const out: { column: string; value: string; count: number }[] = [];
    for (const [column, state] of this.columns) {
      for (const [value, entry] of state.named) {
        entry.idle += 1;
        if (entry.idle > this.idleCollections) state.named.delete(value);
      }
      if (state.named.size < this.named && state.candidates.size > 0) {
        const best = [...state.candidates].filter(([value]) => value !== OTHER).sort((a, b) => b[1] - a[1]);
        for (const [value] of best.slice(0, this.named - state.named.size)) state.named.set(value, { count: 0, idle: 0 });
      }
      state.candidates.clear();
      for (const [value, entry] of state.named) out.push({ column, value, count: entry.count });
      if (state.other > 0) out.push({ column, value: OTHER, count: state.other });
    }
    return out;
  }
}
