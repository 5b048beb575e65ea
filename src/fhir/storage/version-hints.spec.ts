import { VersionHints } from './version-hints';

describe('VersionHints', () => {
  it('keeps the last live version per resource and forgets deletions', () => {
    const h = new VersionHints();
    h.saw('Patient', 'a', 1, false);
    h.saw('Patient', 'a', 3, false);
    h.saw('Observation', 'a', 7, false);
    expect(h.get('Patient', 'a')).toBe(3);
    expect(h.get('Observation', 'a')).toBe(7);
    h.saw('Patient', 'a', 4, true);
    expect(h.get('Patient', 'a')).toBeUndefined();
    expect(h.get('Patient', 'b')).toBeUndefined();
  });

  it('is bounded: past its size it starts over rather than grow', () => {
    const h = new VersionHints(3);
    for (const id of ['a', 'b', 'c']) h.saw('Patient', id, 1, false);
    h.saw('Patient', 'c', 2, false); // an update of a known key does not count
    expect(h.get('Patient', 'a')).toBe(1);
    h.saw('Patient', 'd', 1, false);
    expect([h.get('Patient', 'a'), h.get('Patient', 'd')]).toEqual([undefined, 1]);
  });

  it('a resource whose hint was stale gets no more hints (several writers take turns on it)', () => {
    const h = new VersionHints();
    h.saw('Patient', 'a', 2, false);
    h.stale('Patient', 'a');
    expect(h.get('Patient', 'a')).toBeUndefined();
    h.saw('Patient', 'a', 5, false);
    expect(h.get('Patient', 'a')).toBeUndefined();
    h.saw('Patient', 'b', 1, false);
    expect(h.get('Patient', 'b')).toBe(1);
  });
});
