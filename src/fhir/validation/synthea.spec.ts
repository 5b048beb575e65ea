import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { loadDefinitions } from '../definitions/definitions';
import { SchemaCompiler } from './structure-schema';
import { StructureValidator } from './structure-validator';

/**
 * Real-world R4 data: every resource of a few Synthea bundles from each of
 * the three shared sets (Synthea 2.4, 2.7 and 3.0-dev, US Core-profiled HIV
 * data) is valid base R4, so the validator must accept each of them, and the
 * transaction Bundles themselves.
 */
const SYNTHEA = path.join(__dirname, '../../../..', 'shared', 'fixtures', 'synthea');
const present = fs.existsSync(SYNTHEA);
if (!present) console.warn(`skipping Synthea validation: ${SYNTHEA} is absent`);

/** The two infrastructure bundles (where a set has them) and the first patient bundles, per set. */
function bundles(): string[] {
  const out: string[] = [];
  for (const set of fs.readdirSync(SYNTHEA).sort()) {
    const files = fs.readdirSync(path.join(SYNTHEA, set)).filter((f) => f.endsWith('.json.gz')).sort();
    const infrastructure = files.filter((f) => /Information/.test(f));
    const patients = files.filter((f) => !/Information/.test(f)).slice(0, 3);
    for (const f of [...infrastructure, ...patients]) out.push(path.join(SYNTHEA, set, f));
  }
  return out;
}

(present ? describe : describe.skip)('Synthea resources validate against base R4', () => {
  const validator = new StructureValidator(new SchemaCompiler(loadDefinitions()));
  const files = present ? bundles() : [];

  it('reads bundles from every set', () => {
    expect(new Set(files.map((f) => path.basename(path.dirname(f)))).size).toBe(fs.readdirSync(SYNTHEA).length);
  });

  it.each(files.map((f) => [path.relative(SYNTHEA, f), f]))('%s: every entry resource and the Bundle are valid', (_name, file) => {
    const bundle = JSON.parse(zlib.gunzipSync(fs.readFileSync(file)).toString('utf8'));
    const problems: string[] = [];
    for (const [i, entry] of (bundle.entry as { resource: unknown }[]).entries()) {
      for (const issue of validator.validate(entry.resource)) {
        problems.push(`entry ${i}: ${issue.code} ${issue.expression?.[0]} ${issue.diagnostics}`);
      }
    }
    expect(problems.slice(0, 20)).toEqual([]);
    expect(validator.validate(bundle)).toEqual([]);
  });
});
