import type { ColumnReport, Direction, DriftReport, MeasureReport, WindowSummary } from './drift';
import { PREDICTION_COLUMN, valueKey } from './drift';
import type { AttributionResult } from './attribution';

/** ISO time, without milliseconds when there are none. */
export function isoTime(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

function num(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  if (value === 0) return '0';
  return Math.abs(value) >= 0.001 ? value.toFixed(4) : value.toExponential(2);
}

function pct(value: number | undefined, digits = 1): string {
  return value === undefined || !Number.isFinite(value) ? '-' : `${(value * 100).toFixed(digits)} %`;
}

function signed(value: number, digits: number): string {
  return `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(digits)}`;
}

/** A number with about three significant digits, for a column's own units. */
function short(value: number): string {
  const a = Math.abs(value);
  if (a >= 100) return value.toFixed(0);
  if (a >= 10) return value.toFixed(1);
  if (a >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

type Row = { column: ColumnReport; measure: MeasureReport; rank: number; severity: number };

const SPARKS = '▁▂▃▄▅▆▇█';

/** The measure's value in each of the last evaluated windows, as one character each (· where it was not measured). */
export function sparkline(windows: readonly WindowSummary[], column: string, key: string, width = 24): string {
  const evaluated = windows.filter((w) => w.evaluated).slice(-width);
  const values = evaluated.map((w) => w.values?.[column]?.[key]);
  const finite = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  if (finite.length === 0) return '';
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  return values
    .map((v) => {
      if (v === undefined || !Number.isFinite(v)) return '·';
      const i = hi > lo ? Math.round(((v - lo) / (hi - lo)) * (SPARKS.length - 1)) : 0;
      return SPARKS[i] as string;
    })
    .join('');
}

/** "up: mean 0.276 (training 0.126, +1.7 sd), median +1.6 sd" / "ecommerce +12 pts (27 %→39 %)". */
export function formatDirection(direction: Direction | undefined): string {
  if (!direction) return '';
  if (direction.moves) {
    const moves = direction.moves.filter((m) => Math.abs(m.share - m.trainingShare) >= 0.005);
    if (moves.length === 0) return 'shares as in training';
    return `moved: ${moves.map((m) => `${m.value} ${signed((m.share - m.trainingShare) * 100, 1)} pts (${pct(m.trainingShare, 0)}→${pct(m.share, 0)})`).join(', ')}`;
  }
  const parts: string[] = [];
  if (direction.mean !== undefined && direction.trainingMean !== undefined) {
    const way = direction.mean >= direction.trainingMean ? 'up' : 'down';
    parts.push(
      `${way}: mean ${short(direction.mean)} (training ${short(direction.trainingMean)}, ${signed(direction.mean - direction.trainingMean, Math.abs(direction.mean - direction.trainingMean) >= 1 ? 1 : 3)}` +
        `${direction.meanShiftSd !== undefined ? `, ${signed(direction.meanShiftSd, 1)} sd` : ''})`,
    );
  }
  if (direction.medianShiftSd !== undefined && direction.median !== undefined) parts.push(`median ${short(direction.median)} (${signed(direction.medianShiftSd, 1)} sd)`);
  return parts.join(', ');
}

function since(measure: MeasureReport): string {
  // An episode on in the first window read may have begun earlier: say so instead of cutting it at the range.
  if (measure.sinceBefore) return `since before ${isoTime(measure.since)}`;
  return `since ${isoTime(measure.since)}`;
}

function status(row: Row): string {
  const { measure, column } = row;
  if (measure.drifting) {
    let text = `DRIFTING ${since(measure)}`;
    if (measure.measure === 'unknown_rate') {
      if (measure.firstSeen !== undefined) text += `; unknown values since ${isoTime(measure.firstSeen)}`;
      const values = column.topUnknownValues.slice(0, 3).map((v) => `${JSON.stringify(v.value)} ×${v.count} since ${isoTime(v.firstSeen)}`);
      if (values.length > 0) text += `; ${values.join(', ')}`;
    }
    if (measure.measure === 'missing_rate') {
      text += `; training ${pct(measure.baseline)}`;
      if (measure.firstSeen !== undefined) text += `; missing values since ${isoTime(measure.firstSeen)}`;
    }
    if ((measure.measure === 'positive_rate' || measure.measure === 'mean_score' || measure.measure === 'class_share') && measure.baseline !== undefined && measure.current !== undefined) {
      text += `; training ${measure.measure === 'mean_score' ? num(measure.baseline) : pct(measure.baseline)} (${signed((measure.current / measure.baseline - 1) * 100, 0)} %)`;
    }
    if (measure.measure === 'psi' && column.kind !== 'prediction') {
      const direction = formatDirection(column.direction);
      if (direction) text += `; ${direction}`;
    }
    const episode = measure.episodes[measure.episodes.length - 1];
    if (episode) text += ` (peak ${num(episode.peak)}, ${episode.windows} window${episode.windows === 1 ? '' : 's'})`;
    return text;
  }
  const past = measure.episodes.filter((e) => e.end !== undefined);
  if (past.length > 0) {
    const last = past[past.length - 1] as (typeof past)[number];
    return `drifted ${last.censored ? 'before ' : ''}${isoTime(last.onset)} .. ${isoTime(last.end)} (peak ${num(last.peak)})${past.length > 1 ? `, ${past.length} episodes` : ''}; ok now`;
  }
  return measure.current === undefined ? 'no window evaluated' : 'ok';
}

function measureName(measure: MeasureReport): string {
  return measure.measure === 'positive_rate' ? `positive≥${measure.cut}` : measure.measure;
}

/** How far over its threshold a measure is (for "worst first"). */
function severity(measure: MeasureReport): number {
  const current = measure.current ?? 0;
  if (measure.measure === 'positive_rate' || measure.measure === 'mean_score' || measure.measure === 'class_share') {
    const base = measure.baseline ?? 0;
    return base > 0 ? Math.abs(current / base - 1) / (measure.threshold || 1) : 0;
  }
  return measure.threshold > 0 ? current / measure.threshold : current;
}

/** "merchant_risk_score (+0.15, +1.7 sd) explains 93 %" for the columns that explain a tenth or more. */
function attributionLine(report: DriftReport, attribution: AttributionResult): string {
  const named = attribution.columns.filter((c) => c.share >= 0.1).slice(0, 3);
  const parts = (named.length > 0 ? named : attribution.columns.slice(0, 1)).map((c) => {
    const d = c.direction ?? report.columns.find((x) => x.column === c.column)?.direction;
    const size = d?.mean !== undefined && d.trainingMean !== undefined ? ` (${signed(d.mean - d.trainingMean, Math.abs(d.mean - d.trainingMean) >= 1 ? 1 : 2)}${d.meanShiftSd !== undefined ? `, ${signed(d.meanShiftSd, 1)} sd` : ''})` : '';
    return `${c.column}${size} explains ${Math.round(c.share * 100)} %`;
  });
  return (
    `  ${parts.join('; ')} of the score shift ${signed(attribution.shift, 4)}${attribution.shiftSe > 0 ? ` ± ${attribution.shiftSe.toFixed(4)}` : ''} in the window of ${isoTime(attribution.windowStart)} ` +
    `(re-scored ${attribution.events} events, one column at a time put back to the window of ${isoTime(attribution.referenceWindowStart)})`
  );
}

/** The scores line: what moved, which way, since when, and which input it comes from. */
function scoresLine(report: DriftReport, rows: readonly Row[]): string[] {
  const scoreRows = rows.filter((r) => r.column.kind === 'prediction' && r.measure.drifting);
  if (scoreRows.length === 0) {
    // Drifted earlier in the range: what moved them then is still worth a line.
    const attribution = report.attribution;
    return attribution && attribution.columns.length > 0 ? [`SCORES ok now; they last drifted in the window of ${isoTime(attribution.windowStart)}:`, attributionLine(report, attribution)] : [];
  }
  const onset = Math.min(...scoreRows.map((r) => r.measure.since ?? Infinity));
  const before = scoreRows.some((r) => r.measure.sinceBefore);
  const prediction = report.columns.find((c) => c.column === PREDICTION_COLUMN);
  const mean = prediction?.measures.find((m) => m.measure === 'mean_score');
  const positive = prediction?.measures.filter((m) => m.measure === 'positive_rate') ?? [];
  const up = mean?.current !== undefined && mean.baseline !== undefined ? mean.current >= mean.baseline : (positive[0]?.current ?? 0) >= (positive[0]?.baseline ?? 0);
  const figures = [
    ...positive.map((m) => `positive rate ≥${m.cut} ${pct(m.current)} (training ${pct(m.baseline)})`),
    ...(mean?.current !== undefined ? [`mean ${num(mean.current)} (training ${num(mean.baseline)})`] : []),
  ];
  const lines = [`SCORES ${up ? 'up' : 'down'} since ${before ? 'before ' : ''}${isoTime(onset)}: ${figures.join(', ')}`];
  const attribution = report.attribution;
  if (attribution && attribution.columns.length > 0) {
    lines.push(attributionLine(report, attribution));
  } else {
    // Without re-scoring: name the inputs whose scored values moved by then (unknown categories are dead-lettered, never scored).
    const limit = onset + report.windowSeconds * 1000;
    const causes = rows.filter((r) => r.column.kind !== 'prediction' && r.measure.measure === 'psi' && r.measure.drifting && (r.measure.since ?? Infinity) <= limit);
    lines.push(
      causes.length > 0
        ? `  with inputs that moved by then: ${causes.map((c) => `${c.column.column} (since ${isoTime(c.measure.since)})`).join(', ')}`
        : '  no model input drifted by then (a change the inputs do not show, or in how they combine)',
    );
  }
  return lines;
}

/** The answer to "what made the scores worse, since when?", for people: one screen, worst first. */
export function formatDriftReport(report: DriftReport): string {
  const lines: string[] = [];
  lines.push(`model ${report.model} ${report.modelVersion}, compared with the training profile ${report.profile}${report.trainedAt ? ` (trained ${report.trainedAt})` : ''}`);
  lines.push(
    `${report.windowsEvaluated} window(s) of ${report.windowSeconds} s evaluated` +
      (report.firstWindowStart !== undefined ? `, ${isoTime(report.firstWindowStart)} .. ${isoTime(report.lastWindowEnd)}` : '') +
      (report.windowsSkipped > 0 ? `; ${report.windowsSkipped} skipped (fewer than ${report.minWindowEvents} events)` : '') +
      (report.lateEvents > 0 ? `; ${report.lateEvents} late event(s) not counted` : '') +
      (report.restoredFrom !== undefined ? `; episodes kept from a state saved ${isoTime(report.restoredFrom)}` : '') +
      (report.rangeStart !== undefined ? `; read from ${isoTime(report.rangeStart)} (whole windows): "since before" = on when the range begins` : ''),
  );
  const rows: Row[] = [];
  for (const column of report.columns) {
    for (const measure of column.measures) {
      const rank = measure.drifting ? 0 : measure.episodes.length > 0 ? 1 : 2;
      rows.push({ column, measure, rank, severity: severity(measure) });
    }
  }
  // Worst first: drifting, then drifted earlier; within each, furthest over the threshold first.
  rows.sort((a, b) => a.rank - b.rank || b.severity - a.severity);
  const drifting = [...new Set(rows.filter((r) => r.rank === 0).map((r) => r.column.column))];
  lines.push(drifting.length > 0 ? `drifting now: ${drifting.join(', ')}` : 'drifting now: nothing');
  lines.push(...scoresLine(report, rows));
  for (const partial of report.partialWindows ?? []) {
    if (partial.over.length > 0) lines.push(`early look (PARTIAL window ${isoTime(partial.start)}, ${partial.events} events so far): over threshold: ${partial.over.join(', ')}`);
  }
  lines.push('');
  const shown = rows.filter((r) => r.rank < 2);
  const width = Math.max(6, ...shown.map((r) => r.column.column.length));
  if (shown.length > 0) {
    lines.push(`${'column'.padEnd(width)}  ${'measure'.padEnd(12)}  ${'now'.padStart(9)}  ${'threshold'.padStart(9)}  ${'last windows'.padEnd(24)}  status`);
    for (const row of shown) {
      const spark = sparkline(report.recentWindows, row.column.column, valueKey(row.measure.measure, row.measure.cut));
      lines.push(`${row.column.column.padEnd(width)}  ${measureName(row.measure).padEnd(12)}  ${num(row.measure.current).padStart(9)}  ${num(row.measure.threshold).padStart(9)}  ${spark.padEnd(24)}  ${status(row)}`);
    }
  }
  const ok = [...new Set(rows.filter((r) => r.rank === 2 && r.measure.current !== undefined).map((r) => r.column.column))].filter((c) => !shown.some((r) => r.column.column === c));
  if (ok.length > 0) {
    const worstPsi = rows.filter((r) => r.rank === 2 && r.measure.measure === 'psi' && ok.includes(r.column.column)).sort((a, b) => (b.measure.current ?? 0) - (a.measure.current ?? 0))[0];
    lines.push(`ok: ${ok.join(', ')}${worstPsi ? ` (largest PSI ${worstPsi.column.column} ${num(worstPsi.measure.current)})` : ''}`);
  }
  if (report.deadLetters.length > 0) {
    const top = report.deadLetters.slice(0, 6).map((d) => `${d.reason}${d.column !== '-' ? ` ${d.column}` : ''} ×${d.count}`);
    lines.push(`dead letters in these windows (decode and contract check): ${top.join(', ')}${report.deadLetters.length > 6 ? `, ${report.deadLetters.length - 6} more` : ''}`);
  }
  return lines.join('\n');
}
