import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configurationMarkdown } from '../src/config/doc';

writeFileSync(join(__dirname, '..', 'docs', 'configuration.md'), configurationMarkdown());
