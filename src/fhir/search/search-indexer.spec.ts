import { loadDefinitions } from '../definitions/definitions';
import { INDEX_TABLE } from './index-tables';
import { rowText, SearchIndexer } from './search-indexer';
import { SearchParameterRegistry } from './search-params';

/** One index row per (param, value) of a resource (search.html: a value matches once), small or big. */
describe('SearchIndexer rows', () => {
  const indexer = new SearchIndexer(new SearchParameterRegistry(loadDefinitions()), 'http://localhost:8080/fhir');
  const codeRows = (resource: any) => indexer.extract(resource).get(INDEX_TABLE)!.filter((r) => r[0] === 'code');

  it('drops repeated values of a param with few values', () => {
    const cs = { resourceType: 'CodeSystem', status: 'active', content: 'complete', concept: [{ code: 'a' }, { code: 'b' }, { code: 'a' }] };
    expect(codeRows(cs).map((r) => r[3]).sort()).toEqual(['a', 'b']);
  });

  it('drops repeated values of a param with thousands of values (past the column-by-column comparison)', () => {
    const codes = Array.from({ length: 3000 }, (_, i) => `c${i}`);
    const cs = { resourceType: 'CodeSystem', status: 'active', content: 'complete', concept: [...codes, ...codes.slice(0, 1000)].map((code) => ({ code })) };
    const values = codeRows(cs).map((r) => r[3] as string);
    expect(values.length).toBe(3000);
    expect(new Set(values).size).toBe(3000);
  });

  it('compares big params by a text that keeps null and empty, and value boundaries, apart', () => {
    expect(rowText(['code', null, 'x'])).not.toBe(rowText(['code', '', 'x']));
    expect(rowText(['code', 'ab', 'c'])).not.toBe(rowText(['code', 'a', 'bc']));
    expect(rowText(['code', 'a', 1])).toBe(rowText(['code', 'a', 1]));
  });
});
