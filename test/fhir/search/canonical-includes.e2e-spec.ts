import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, search, sorted } from './search-helpers';

// search.html#include: `_include`/`_revinclude` name a parameter "of type reference", and R4 reference
// parameters cover canonical elements (references.html#canonical): QuestionnaireResponse.questionnaire is a
// canonical, so `_include=QuestionnaireResponse:questionnaire` brings the Questionnaire whose `url` it names
// (`url|version`: that version; a bare `url`: the most recently updated one), and `_revinclude` the
// responses that name a page's Questionnaire.
describe('_include / _revinclude through canonical references (search.html#include)', () => {
  let t: TestApp;
  const r: Record<string, string> = {};
  const byMode = (b: any, mode: string) => sorted((b.entry ?? []).filter((e: any) => e.search.mode === mode).map((e: any) => `${e.resource.resourceType}/${e.resource.id}`));
  beforeAll(async () => {
    t = await startTestApp();
    const q = (version: string) => create(t, { resourceType: 'Questionnaire', status: 'active', url: 'http://acme.org/Questionnaire/phq', version });
    r.v1 = await q('1');
    r.v2 = await q('2');
    r.other = await create(t, { resourceType: 'Questionnaire', status: 'active', url: 'http://acme.org/Questionnaire/other' });
    const qr = (questionnaire: string) => create(t, { resourceType: 'QuestionnaireResponse', status: 'completed', questionnaire });
    r.qrV1 = await qr('http://acme.org/Questionnaire/phq|1');
    r.qrBare = await qr('http://acme.org/Questionnaire/phq');
    r.qrOther = await qr('http://acme.org/Questionnaire/other');
    r.qrUnknown = await qr('http://elsewhere.org/Questionnaire/x');
  });
  afterAll(async () => t.close());

  it('_include resolves url|version to that version and a bare url to the latest', async () => {
    const v1 = await search(t, `QuestionnaireResponse?_id=${r.qrV1}&_include=QuestionnaireResponse:questionnaire`);
    expect(byMode(v1, 'include')).toEqual([`Questionnaire/${r.v1}`]);
    const bare = await search(t, `QuestionnaireResponse?_id=${r.qrBare}&_include=QuestionnaireResponse:questionnaire`);
    expect(byMode(bare, 'include')).toEqual([`Questionnaire/${r.v2}`]);
    const all = await search(t, 'QuestionnaireResponse?_include=QuestionnaireResponse:questionnaire');
    expect(byMode(all, 'match')).toHaveLength(4);
    expect(byMode(all, 'include')).toEqual(sorted([`Questionnaire/${r.v1}`, `Questionnaire/${r.v2}`, `Questionnaire/${r.other}`]));
    const star = await search(t, `QuestionnaireResponse?_id=${r.qrOther}&_include=*`);
    expect(byMode(star, 'include')).toEqual([`Questionnaire/${r.other}`]);
  });

  it('_revinclude finds the responses naming a Questionnaire by url|version or bare url, not another version', async () => {
    const v1 = await search(t, `Questionnaire?_id=${r.v1}&_revinclude=QuestionnaireResponse:questionnaire`);
    expect(byMode(v1, 'include')).toEqual(sorted([`QuestionnaireResponse/${r.qrV1}`, `QuestionnaireResponse/${r.qrBare}`]));
    const v2 = await search(t, `Questionnaire?_id=${r.v2}&_revinclude=QuestionnaireResponse:questionnaire`);
    expect(byMode(v2, 'include')).toEqual([`QuestionnaireResponse/${r.qrBare}`]);
    const other = await search(t, `Questionnaire?_id=${r.other}&_revinclude=*`);
    expect(byMode(other, 'include')).toEqual([`QuestionnaireResponse/${r.qrOther}`]);
  });

  it('_include:iterate continues through a canonical', async () => {
    const b = await search(t, `QuestionnaireResponse?_id=${r.qrV1}&_include=QuestionnaireResponse:questionnaire&_revinclude:iterate=QuestionnaireResponse:questionnaire`);
    expect(byMode(b, 'include')).toEqual(sorted([`Questionnaire/${r.v1}`, `QuestionnaireResponse/${r.qrBare}`]));
  });
});
