import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openApiDocument } from '../shared/openapi/document.js';

/**
 * `npm run openapi`: writes the document `GET /api/openapi.json` serves to `docs/openapi.json`.
 * The committed copy is the published contract: a change of the API (a field, a status, a
 * description) shows as a diff in review, and the unit tests fail until the copy is rewritten.
 */
const target = fileURLToPath(new URL('../../docs/openapi.json', import.meta.url));
writeFileSync(target, `${JSON.stringify(openApiDocument(), null, 2)}\n`);
process.stdout.write(`wrote ${target}\n`);
