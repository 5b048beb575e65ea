import { addMeta, metaParameter, metaSummary, removeMeta, sameSets } from './meta-values';

// R4 resource-operation-meta-add.html / -meta-delete.html: profiles, tags and security labels are sets;
// a tag or label is identified by system + code (version and display ignored), a profile by its URL
const S = 'http://example.org/tags';

describe('meta sets ($meta-add, $meta-delete)', () => {
  const meta = { versionId: '4', tag: [{ system: S, code: 'a', display: 'Alpha' }], profile: ['http://p/1'] };

  it('adds what is missing, keeps what is there (its display and version), duplicates never', () => {
    const out = addMeta(meta, { tag: [{ system: S, code: 'a', display: 'other', version: '2' }, { system: S, code: 'b' }, { system: S, code: 'b' }], profile: ['http://p/1', 'http://p/2'], security: [{ system: S, code: 'R' }] });
    expect(out).toEqual({ versionId: '4', tag: [{ system: S, code: 'a', display: 'Alpha' }, { system: S, code: 'b' }], profile: ['http://p/1', 'http://p/2'], security: [{ system: S, code: 'R' }] });
    expect(meta.tag).toHaveLength(1); // the input is not changed
  });

  it('removes by identity; absent ones are no error; an emptied set disappears', () => {
    const out = removeMeta(meta, { tag: [{ system: S, code: 'a', display: 'ignored' }, { system: S, code: 'zz' }], security: [{ system: S, code: 'R' }] });
    expect(out).toEqual({ versionId: '4', profile: ['http://p/1'] });
    expect(removeMeta(meta, { tag: [{ system: 'http://other', code: 'a' }] }).tag).toEqual(meta.tag);
  });

  it('sameSets compares identities, not order or display', () => {
    expect(sameSets({ tag: [{ system: S, code: 'a' }, { system: S, code: 'b' }] }, { tag: [{ system: S, code: 'b', display: 'x' }, { system: S, code: 'a' }] })).toBe(true);
    expect(sameSets({ profile: ['http://p/1'] }, {})).toBe(false);
  });

  it('reads exactly one Meta parameter, refuses anything else', () => {
    const body = (p: unknown[]) => ({ resourceType: 'Parameters', parameter: p });
    expect(metaParameter(body([{ name: 'meta', valueMeta: { tag: [{ system: S, code: 'a' }] } }]), 'meta-add')).toEqual({ tag: [{ system: S, code: 'a' }] });
    for (const bad of [undefined, { resourceType: 'Patient' }, body([]), body([{ name: 'meta', valueString: 'x' }]), body([{ name: 'meta', valueMeta: { tag: ['a'] } }]), body([{ name: 'meta', valueMeta: { profile: [1] } }])]) {
      expect(() => metaParameter(bad, 'meta-add')).toThrow(/meta/);
    }
  });

  it('summarizes rows as one Meta', () => {
    expect(
      metaSummary([
        { kind: 'profile', system: 'http://p/1', code: null, display: null, version: null },
        { kind: 'tag', system: S, code: 'a', display: 'Alpha', version: null },
        { kind: 'security', system: S, code: 'R', display: null, version: '1' },
      ]),
    ).toEqual({ profile: ['http://p/1'], tag: [{ system: S, code: 'a', display: 'Alpha' }], security: [{ system: S, version: '1', code: 'R' }] });
  });
});
