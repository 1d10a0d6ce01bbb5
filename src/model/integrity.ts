import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { ServiceError } from '../errors';

/** sha256 of a file, hex, read in chunks (models can be large). */
export function sha256File(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      hash.update(chunk.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * The model file is the one the configuration pins (MODEL_SHA256), or the service does not start.
 * Returns the file's sha256 (also when nothing is pinned, so it can be logged and pinned later).
 */
export function verifyModelFile(modelPath: string, expectedSha256: string | undefined): string {
  let actual: string;
  try {
    actual = sha256File(modelPath);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new ServiceError('MODEL_INVALID', `MODEL_PATH=${modelPath}: cannot read it (${e.code ?? e.message})`, { cause: error });
  }
  if (expectedSha256 !== undefined && actual !== expectedSha256.toLowerCase()) {
    throw new ServiceError(
      'MODEL_INVALID',
      `MODEL_PATH=${modelPath} has sha256 ${actual}, but MODEL_SHA256=${expectedSha256.toLowerCase()} is pinned; refusing to start with a model that is not the configured one (roll out the new MODEL_SHA256 together with the new file)`,
    );
  }
  return actual;
}
