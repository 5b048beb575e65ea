import { distanceMeters, nearEntrySearch, parseNear } from './position';

// R4 Location-near: `[latitude]|[longitude]|[distance]|[units]`, units UCUM (km when omitted).
describe('position (Location.near)', () => {
  it('parses the point, the distance and its UCUM unit into metres', () => {
    expect(parseNear('42.36|-71.06|5|km', 'near')).toEqual({ latitude: 42.36, longitude: -71.06, meters: 5000 });
    expect(parseNear('42.36|-71.06|5', 'near').meters).toBe(5000);
    expect(parseNear('0|0|250|m', 'near').meters).toBe(250);
    expect(parseNear('0|0|1|[mi_i]', 'near').meters).toBeCloseTo(1609.344, 6);
    expect(parseNear('0|0', 'near').meters).toBe(1000);
    expect(parseNear('-90|180|0|km', 'near')).toEqual({ latitude: -90, longitude: 180, meters: 0 });
  });

  it('refuses what is not a point and a length', () => {
    for (const bad of ['0', '90.5|0', '0|-180.1', '1e|0', '0|0|x|km', '0|0|-3|km', '0|0|3|s', '0|0|3|{km}', '0|0|1|km|1']) {
      expect(() => parseNear(bad, 'near')).toThrow();
    }
  });

  it('measures great-circle distances (one degree of a meridian is πR/180)', () => {
    expect(distanceMeters({ latitude: 0, longitude: 0 }, { latitude: 1, longitude: 0 })).toBeCloseTo((Math.PI * 6371008.8) / 180, 3);
    expect(distanceMeters({ latitude: 0, longitude: 179.5 }, { latitude: 0, longitude: -179.5 })).toBeCloseTo((Math.PI * 6371008.8) / 180, 3);
    expect(distanceMeters({ latitude: 90, longitude: 0 }, { latitude: 90, longitude: 123 })).toBeCloseTo(0, 6);
  });

  it('reports the distance to the closest point searched, none without a position', () => {
    const s = nearEntrySearch('{"resourceType":"Location","position":{"latitude":0,"longitude":2}}', [
      { latitude: 0, longitude: 0 },
      { latitude: 0, longitude: 1 },
    ]);
    expect(s.extension?.[0].valueDistance).toEqual({ value: 111.195, unit: 'km', system: 'http://unitsofmeasure.org', code: 'km' });
    expect(nearEntrySearch('{"resourceType":"Location"}', [{ latitude: 0, longitude: 0 }])).toEqual({ mode: 'match' });
  });
});
