import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';

/**
 * A Redis that speaks only TLS, wants a client certificate and lets in one ACL user: Debian's
 * redis-server with certificates made by openssl for this run (a CA, the server's for 127.0.0.1,
 * a client's, and a second CA that signed nothing Redis shows). The default user is off.
 */
export interface SecureRedis {
  readonly port: number;
  readonly dir: string;
  /** Files as the service reads them (FEATURE_STORE_*_FILE). */
  readonly files: {
    readonly ca: string;
    readonly otherCa: string;
    readonly clientCert: string;
    readonly clientKey: string;
    readonly username: string;
    readonly password: string;
    readonly wrongPassword: string;
  };
  /** ioredis options of the ACL user, for seeding. */
  readonly options: RedisOptions;
  stop(): Promise<void>;
}

export const SECURE_REDIS_USER = 'scorer';

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function certificates(dir: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, 'req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=stream-scorer test CA');
  openssl(dir, 'req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-days', '2', '-subj', '/CN=some other CA');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const [name, subject, ext] of [
    ['server', '/CN=127.0.0.1', ['-extfile', 'server.ext']],
    ['client', `/CN=${SECURE_REDIS_USER}`, []],
  ] as const) {
    openssl(dir, 'req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', ...ext);
  }
}

async function answers(options: RedisOptions): Promise<boolean> {
  const client = new Redis({ ...options, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

export async function startSecureRedis(port: number): Promise<SecureRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'stream-scorer-redis-tls-'));
  certificates(dir);
  const password = 'correct horse battery staple';
  const files = {
    ca: join(dir, 'ca.crt'),
    otherCa: join(dir, 'other-ca.crt'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
    username: join(dir, 'username'),
    password: join(dir, 'password'),
    wrongPassword: join(dir, 'wrong-password'),
  };
  // As a mounted Secret would hold them: a trailing newline the service must not send.
  writeFileSync(files.username, `${SECURE_REDIS_USER}\n`);
  writeFileSync(files.password, `${password}\n`);
  writeFileSync(files.wrongPassword, 'not the password\n');
  const args = [
    '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1',
    '--tls-cert-file', join(dir, 'server.crt'), '--tls-key-file', join(dir, 'server.key'), '--tls-ca-cert-file', files.ca, '--tls-auth-clients', 'yes',
    '--save', '', '--appendonly', 'no', '--dir', dir,
    '--user', 'default', 'off',
    '--user', SECURE_REDIS_USER, 'on', `>${password}`, '~*', '+@all',
  ];
  const child: ChildProcess = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const options: RedisOptions = {
    host: '127.0.0.1',
    port,
    username: SECURE_REDIS_USER,
    password,
    tls: { ca: readFileSync(files.ca), cert: readFileSync(files.clientCert), key: readFileSync(files.clientKey) },
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (const deadline = Date.now() + 20_000; !(await answers(options)); ) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server with TLS on 127.0.0.1:${port} did not answer: ${log.slice(-2000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { port, dir, files, options, stop };
}
