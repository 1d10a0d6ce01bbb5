import type { ColumnReport, DriftReport, MeasureReport } from './drift';

/** ISO time, without milliseconds when there are none. */
export function isoTime(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

function num(value: number | undefined): string {
  if (value === undefined) return '-';
  if (value === 0) return '0';
  return value >= 0.001 ? value.toFixed(4) : value.toExponential(2);
}

type Row = { column: ColumnReport; measure: MeasureReport; rank: number };

function status(row: Row): string {
  const { measure, column } = row;
  if (measure.drifting) {
    let text = `DRIFTING since ${isoTime(measure.since)}`;
    if (measure.measure === 'unknown_rate') {
      if (measure.firstSeen !== undefined) text += `; unknown values since ${isoTime(measure.firstSeen)}`;
      const values = column.topUnknownValues.slice(0, 5).map((v) => `${JSON.stringify(v.value)} ×${v.count} since ${isoTime(v.firstSeen)}`);
      if (values.length > 0) text += `; ${values.join(', ')}`;
    }
    const episode = measure.episodes[measure.episodes.length - 1];
    if (episode) text += ` (peak ${num(episode.peak)}, ${episode.windows} window${episode.windows === 1 ? '' : 's'})`;
    return text;
  }
  const past = measure.episodes.filter((e) => e.end !== undefined);
  if (past.length > 0) {
    const last = past[past.length - 1] as (typeof past)[number];
    return `drifted ${isoTime(last.onset)} .. ${isoTime(last.end)} (peak ${num(last.peak)})${past.length > 1 ? `, ${past.length} episodes` : ''}; ok now`;
  }
  return measure.current === undefined ? 'no window evaluated' : 'ok';
}

/** The answer to "what made the scores worse, since when?", for people. */
export function formatDriftReport(report: DriftReport): string {
  const lines: string[] = [];
  lines.push(`model ${report.model} ${report.modelVersion}, compared with the training profile ${report.profile}${report.trainedAt ? ` (trained ${report.trainedAt})` : ''}`);
  lines.push(
    `${report.windowsEvaluated} window(s) of ${report.windowSeconds} s evaluated` +
      (report.firstWindowStart !== undefined ? `, ${isoTime(report.firstWindowStart)} .. ${isoTime(report.lastWindowEnd)}` : '') +
      (report.windowsSkipped > 0 ? `; ${report.windowsSkipped} skipped (fewer than ${report.minWindowEvents} events)` : '') +
      (report.lateEvents > 0 ? `; ${report.lateEvents} late event(s) not counted` : ''),
  );
  const rows: Row[] = [];
  for (const column of report.columns) {
    for (const measure of column.measures) {
      const rank = measure.drifting ? 0 : measure.episodes.length > 0 ? 1 : 2;
      rows.push({ column, measure, rank });
    }
  }
  rows.sort((a, b) => a.rank - b.rank || (a.rank < 2 ? (a.measure.since ?? a.measure.episodes[0]?.onset ?? 0) - (b.measure.since ?? b.measure.episodes[0]?.onset ?? 0) : 0));
  const drifting = [...new Set(rows.filter((r) => r.rank === 0).map((r) => r.column.column))];
  lines.push(drifting.length > 0 ? `drifting now: ${drifting.join(', ')}` : 'drifting now: nothing');
  const scores = rows.find((r) => r.column.kind === 'prediction' && r.measure.drifting);
  if (scores?.measure.since !== undefined) {
    // Unknown categories are dead-lettered, never scored: only inputs whose scored values moved can move the scores.
    const limit = scores.measure.since + report.windowSeconds * 1000;
    const causes = rows.filter((r) => r.column.kind !== 'prediction' && r.measure.measure === 'psi' && r.measure.drifting && (r.measure.since ?? Infinity) <= limit);
    lines.push(
      `scores drifting since ${isoTime(scores.measure.since)}` +
        (causes.length > 0 ? `, with inputs that moved by then: ${causes.map((c) => `${c.column.column} (since ${isoTime(c.measure.since)})`).join(', ')}` : '; no model input drifted by then (a change the inputs do not show, or in how they combine)'),
    );
  }
  lines.push('');
  const width = Math.max(6, ...rows.map((r) => r.column.column.length));
  lines.push(`${'column'.padEnd(width)}  ${'measure'.padEnd(12)}  ${'now'.padStart(9)}  ${'threshold'.padStart(9)}  status`);
  for (const row of rows) {
    lines.push(`${row.column.column.padEnd(width)}  ${row.measure.measure.padEnd(12)}  ${num(row.measure.current).padStart(9)}  ${num(row.measure.threshold).padStart(9)}  ${status(row)}`);
  }
  return lines.join('\n');
}
