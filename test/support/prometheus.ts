/** Sample name (with its labels, as written) → value, from the Prometheus text exposition. */
export function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

/** The value of the first sample on a /metrics page whose name and labels match `pattern`. */
export async function metricMatching(metricsUrl: string, pattern: RegExp): Promise<number | undefined> {
  for (const [sample, value] of samples(await (await fetch(metricsUrl)).text())) if (pattern.test(sample)) return value;
  return undefined;
}
