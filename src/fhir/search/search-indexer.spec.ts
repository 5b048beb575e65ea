import { loadDefinitions } from '../definitions/definitions';
import { INDEX_TABLE } from './index-tables';
import { rowText, SearchIndexer } from './search-indexer';
import { SearchParameterRegistry } from './search-params';

/** One index row per (param, value) of a resource (search.html: a value matches once), small or big. */
describe('SearchIndexer rows', () => {
  const indexer = new SearchIndexer(new SearchParameterRegistry(loadDefinitions()), 'http://localhost:8080/fhir');
  const rowsOf = (resource: any, param: string) => indexer.extract(resource).get(INDEX_TABLE)!.filter((r) => r[0] === param);
  const codeRows = (resource: any) => rowsOf(resource, 'code');

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

  // search.html#versions: `url|version` matches that version, `url` every version
  it('indexes a canonical with and without its version, and a canonical resource\'s url also with its version', () => {
    const vs = { resourceType: 'ValueSet', status: 'active', url: 'http://x.org/vs', version: '2.0' };
    expect(rowsOf(vs, 'url').map((r) => r[3]).sort()).toEqual(['http://x.org/vs', 'http://x.org/vs|2.0']);
    const qr = { resourceType: 'QuestionnaireResponse', status: 'completed', questionnaire: 'http://x.org/q|1.0' };
    expect(rowsOf(qr, 'questionnaire').map((r) => r[3]).sort()).toEqual(['http://x.org/q', 'http://x.org/q|1.0']);
    const plain = { resourceType: 'QuestionnaireResponse', status: 'completed', questionnaire: 'http://x.org/q' };
    expect(rowsOf(plain, 'questionnaire').map((r) => r[3])).toEqual(['http://x.org/q']);
  });
});
