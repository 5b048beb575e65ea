/**
 * `npm run reindex [-- Type,Type…]`: rebuilds the search index of the stored
 * resources in DATABASE_URL (or the embedded database in DATA_DIR, which no
 * running server may be using: ask a running server with `POST /fhir/$reindex`
 * instead) and puts the custom SearchParameters in force (stored ones and
 * those in fhir-profiles/). Servers keep serving meanwhile and pick the new
 * parameters up within 30 s. Progress on stderr; a JSON summary on stdout.
 */
import { loadConfig } from '../src/config/config';
import { Database } from '../src/database/database';
import { loadDefinitions } from '../src/fhir/definitions/definitions';
import { Reindexer } from '../src/fhir/search/reindex';
import { SearchIndexer } from '../src/fhir/search/search-indexer';
import { SearchParameterRegistry } from '../src/fhir/search/search-params';
import { logger } from '../src/logger';

async function main(): Promise<void> {
  const config = loadConfig();
  const types = process.argv.slice(2).flatMap((a) => a.split(',')).map((t) => t.trim()).filter(Boolean);
  const registry = new SearchParameterRegistry(loadDefinitions());
  const unknown = types.filter((t) => !registry.isResourceType(t));
  if (unknown.length) throw new Error(`unknown resource type(s): ${unknown.join(', ')}`);
  const db = await Database.connect({
    url: config.databaseUrl,
    dataDir: config.dataDir === ':memory:' ? undefined : config.dataDir,
    poolSize: 2,
    schema: config.databaseSchema,
  });
  try {
    await db.migrate();
    const reindexer = new Reindexer(db, new SearchIndexer(registry, config.fhirBaseUrl), config.profilesDir);
    let lastType = '';
    const result = await reindexer.run({
      types: types.length ? types : undefined,
      onProgress: (p) => {
        if (p.resourceType !== lastType || p.done === p.total || p.done % 5000 < 500) {
          process.stderr.write(`${p.resourceType}: ${p.done}/${p.total} (all types: ${p.overall})\n`);
          lastType = p.resourceType;
        }
      },
    });
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    await db.close();
  }
}

main().catch((err) => {
  logger.fatal({ err: err?.message }, 'reindex failed');
  process.stderr.write(`reindex failed: ${err?.message}\n`);
  process.exit(1);
});
