import { createHash } from 'node:crypto';
import { type FSWatcher, readFileSync, realpathSync, statSync, watch } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Notices a new model on disk. fs.watch on the model's folder (a Kubernetes ConfigMap or volume
 * update is an atomic swap of the `..data` symlink to a new folder: the folder changes, the file
 * names do not), debounced; plus a periodic stat poll as a fallback where fs.watch says nothing
 * (network file systems, some container runtimes). Either only asks for a reload when the content
 * of the model's files (model, manifest, profile, reference events) hashes differently from what
 * was seen last, so a refused model is not tried again until its files change again.
 */
export interface ModelWatchOptions {
  /** MODEL_PATH. */
  readonly modelPath: string;
  /** Other files that belong to the model (manifest, profile, reference.json), present or not. */
  readonly companions: readonly string[];
  /** fs.watch the model's folder. */
  readonly watch: boolean;
  /** Stat poll period; 0: no poll. */
  readonly pollMs: number;
  /** Quiet time after the last change before the files are hashed. */
  readonly debounceMs: number;
  /** Asked when the content changed; `how` says which mechanism saw it first. */
  readonly onChange: (how: 'watch' | 'poll') => void;
  readonly onError?: (error: Error) => void;
}

export interface ModelWatcher {
  /** The content the serving model was loaded from (after a reload through another trigger). */
  accept(fingerprint?: string): void;
  close(): void;
}

/** Each file's resolved path, size and mtime: cheap, and changes when a symlink is swapped. */
export function statSignature(files: readonly string[]): string {
  return files
    .map((file) => {
      try {
        const s = statSync(file);
        return `${realpathSync(file)}:${s.size}:${s.mtimeMs}`;
      } catch {
        return `${file}:absent`;
      }
    })
    .join('|');
}

/** sha256 over the contents of the files (an absent file counts as absent). */
export function contentFingerprint(files: readonly string[]): string {
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(file);
    try {
      hash.update(readFileSync(file));
    } catch {
      hash.update('\0absent');
    }
  }
  return hash.digest('hex');
}

export function modelFiles(modelPath: string, manifestPath: string | undefined, profilePath: string | undefined): string[] {
  const folder = dirname(modelPath);
  const files = [modelPath, ...(manifestPath ? [manifestPath] : ['manifest.yaml', 'manifest.yml', 'manifest.json'].map((n) => join(folder, n))), profilePath ?? join(folder, 'profile.json'), join(folder, 'reference.json')];
  return [...new Set(files)];
}

export function watchModel(options: ModelWatchOptions): ModelWatcher {
  const files = [options.modelPath, ...options.companions.filter((f) => f !== options.modelPath)];
  let seen = contentFingerprint(files);
  let signature = statSignature(files);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const watchers: FSWatcher[] = [];

  const check = (how: 'watch' | 'poll'): void => {
    timer = undefined;
    if (closed) return;
    try {
      signature = statSignature(files);
      const now = contentFingerprint(files);
      if (now === seen) return;
      seen = now;
      options.onChange(how);
    } catch (error) {
      options.onError?.(error as Error);
    }
  };
  const changed = (how: 'watch' | 'poll'): void => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => check(how), options.debounceMs);
    timer.unref();
  };

  if (options.watch) {
    for (const folder of new Set(files.map((f) => dirname(f)))) {
      try {
        const watcher = watch(folder, { persistent: false }, () => changed('watch'));
        watcher.on('error', (error) => options.onError?.(error));
        watchers.push(watcher);
      } catch (error) {
        options.onError?.(error as Error);
      }
    }
  }
  const poll =
    options.pollMs > 0
      ? setInterval(() => {
          if (timer) return;
          if (statSignature(files) !== signature) changed('poll');
        }, options.pollMs)
      : undefined;
  poll?.unref();

  return {
    accept(fingerprint) {
      seen = fingerprint ?? contentFingerprint(files);
      signature = statSignature(files);
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      if (poll) clearInterval(poll);
      for (const w of watchers) w.close();
    },
  };
}
