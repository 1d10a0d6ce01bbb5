import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deployEnvFile, parseEnvFile } from '../src/config/deploy-env';

// Regenerates k8s/base/scorer.env (the scorer's ConfigMap) from the settings schema, keeping values.
const file = join(__dirname, '..', 'k8s', 'base', 'scorer.env');
const current = existsSync(file) ? parseEnvFile(readFileSync(file, 'utf8')) : new Map<string, string>();
writeFileSync(file, deployEnvFile(current));
