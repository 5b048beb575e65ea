import { SearchIndexPosition1795646000000 } from '../../../migrations/1795646000000-SearchIndexPosition';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { create, ids, search, sorted } from './search-helpers';
import { readBundle, SYNTHEA_ROOT, syntheaPresent } from './synthea-fixtures';
import * as path from 'path';

// R4 Location `near` (SearchParameter Location-near, location.html#positional):
// `near=[latitude]|[longitude]|[distance]|[units]`, WGS84 degrees, units UCUM with km when omitted,
// the server's own distance when none is given (1 km here). The oracle: distances along a meridian
// or the equator, where one degree is πR/180 = 111.195 km (R = 6,371.0088 km), well away from the
// radii searched.
describe('Location?near= (R4 Location-near, location.html#positional)', () => {
  let t: TestApp;
  const l: Record<string, string> = {};
  const location = (name: string, position?: { latitude: number; longitude: number }) => ({ resourceType: 'Location', name, ...(position ? { position } : {}) });

  beforeAll(async () => {
    t = await startTestApp();
    l.center = await create(t, location('center', { latitude: 0, longitude: 0 }));
    l.close = await create(t, location('556 m north', { latitude: 0.005, longitude: 0 }));
    l.a = await create(t, location('5.56 km north', { latitude: 0.05, longitude: 0 }));
    l.b = await create(t, location('11.12 km north', { latitude: 0.1, longitude: 0 }));
    l.c = await create(t, location('22.24 km east', { latitude: 0, longitude: 0.2 }));
    l.east = await create(t, location('east of the antimeridian', { latitude: 10, longitude: 179.95 }));
    l.west = await create(t, location('west of the antimeridian', { latitude: 10, longitude: -179.95 }));
    l.pole = await create(t, location('across the pole', { latitude: 89.95, longitude: 180 }));
    l.none = await create(t, location('no position'));
  });
  afterAll(async () => t.close());

  it('matches positions within the distance, in any UCUM unit of length (km when omitted)', async () => {
    expect(await ids(t, 'Location?near=0|0|10|km')).toEqual(sorted([l.center, l.close, l.a]));
    expect(await ids(t, 'Location?near=0|0|12|km')).toEqual(sorted([l.center, l.close, l.a, l.b]));
    expect(await ids(t, 'Location?near=0|0|12000|m')).toEqual(sorted([l.center, l.close, l.a, l.b]));
    expect(await ids(t, 'Location?near=0|0|12')).toEqual(sorted([l.center, l.close, l.a, l.b]));
    // 7.5 international miles = 12.07 km; 6 = 9.66 km
    expect(await ids(t, 'Location?near=0|0|7.5|[mi_i]')).toEqual(sorted([l.center, l.close, l.a, l.b]));
    expect(await ids(t, 'Location?near=0|0|6|[mi_i]')).toEqual(sorted([l.center, l.close, l.a]));
    expect(await ids(t, 'Location?near=0|0|25|km')).toEqual(sorted([l.center, l.close, l.a, l.b, l.c]));
    expect(await ids(t, 'Location?near=0.1|0|0|km')).toEqual([l.b]); // distance 0: the point itself
  });

  it('without a distance, the server decides what is near: 1 km', async () => {
    expect(await ids(t, 'Location?near=0|0')).toEqual(sorted([l.center, l.close]));
    expect(await ids(t, 'Location?near=0.05|0||km')).toEqual([l.a]);
  });

  it('across the antimeridian and over a pole (the circle, not a latitude/longitude box)', async () => {
    // 0.1° of longitude at 10° N = 10.95 km
    expect(await ids(t, 'Location?near=10|179.95|12|km')).toEqual(sorted([l.east, l.west]));
    expect(await ids(t, 'Location?near=10|-179.99|6|km')).toEqual([l.west]);
    expect(await ids(t, 'Location?near=10|179.99|6|km')).toEqual([l.east]);
    // (89.95, 0) to (89.95, 180): 0.1° through the pole, 11.12 km
    expect(await ids(t, 'Location?near=89.95|0|12|km')).toEqual([l.pole]);
    expect(await ids(t, 'Location?near=89.95|0|10|km')).toEqual([]);
  });

  it('OR with commas, AND with repeats, :missing', async () => {
    expect(await ids(t, 'Location?near=0|0|6|km,10|179.95|1|km')).toEqual(sorted([l.center, l.close, l.a, l.east]));
    expect(await ids(t, 'Location?near=0|0|12|km&near=0.1|0|1|km')).toEqual([l.b]);
    expect(await ids(t, 'Location?near:missing=true')).toEqual([l.none]);
    expect((await ids(t, 'Location?near:missing=false')).length).toBe(8);
    expect(await ids(t, 'Location?near=0|0|12|km&name=11.12')).toEqual([l.b]);
  });

  it('each match carries its distance (location-distance extension on Bundle.entry.search)', async () => {
    const b = await search(t, 'Location?near=0|0|12|km');
    const distance = (id: string) => b.entry.find((e: any) => e.resource.id === id).search;
    expect(distance(l.a)).toEqual({
      mode: 'match',
      extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/location-distance', valueDistance: expect.objectContaining({ unit: 'km', code: 'km', system: 'http://unitsofmeasure.org' }) }],
    });
    expect(distance(l.a).extension[0].valueDistance.value).toBeCloseTo(5.55975, 3);
    expect(distance(l.close).extension[0].valueDistance).toEqual(expect.objectContaining({ unit: 'm', code: 'm' }));
    expect(distance(l.close).extension[0].valueDistance.value).toBeCloseTo(555.975, 1);
    // several points: the distance to the closest
    const two = await search(t, 'Location?near=0|0|1|km,0.1|0|1|km');
    expect(two.entry.find((e: any) => e.resource.id === l.b).search.extension[0].valueDistance.value).toBe(0);
    // no near: no distance
    expect((await search(t, `Location?_id=${l.a}`)).entry[0].search).toEqual({ mode: 'match' });
  });

  it('follows updates and deletes of the position', async () => {
    const id = await create(t, location('moving', { latitude: -30, longitude: 20 }));
    expect(await ids(t, 'Location?near=-30|20|1|km')).toEqual([id]);
    await t.http.put(`/fhir/Location/${id}`).set('Content-Type', 'application/fhir+json').send({ ...location('moved', { latitude: -31, longitude: 20 }), id }).expect(200);
    expect(await ids(t, 'Location?near=-30|20|1|km')).toEqual([]);
    expect(await ids(t, 'Location?near=-31|20|1|km')).toEqual([id]);
    await t.http.delete(`/fhir/Location/${id}`).expect(204);
    expect(await ids(t, 'Location?near=-31|20|1|km')).toEqual([]);
  });

  it('chains from resources that refer to a Location (PractitionerRole?location.near=)', async () => {
    const near = await create(t, { resourceType: 'PractitionerRole', active: true, location: [{ reference: `Location/${l.a}` }] });
    await create(t, { resourceType: 'PractitionerRole', active: true, location: [{ reference: `Location/${l.c}` }] });
    expect(await ids(t, 'PractitionerRole?location.near=0|0|10|km')).toEqual([near]);
  });

  it('a malformed value is 400 with an OperationOutcome', async () => {
    for (const bad of ['91|0|1|km', '0|181|1|km', 'abc|0|1|km', '0|0|-1|km', '0|0|5|kg', '0|0|5|furlongs', '0', '0|0|1|km|x']) {
      const res = await t.http.get(`/fhir/Location?near=${encodeURIComponent(bad)}`);
      expect({ bad, status: res.status }).toEqual({ bad, status: 400 });
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
    expect((await t.http.get('/fhir/Location?near:exact=0|0')).status).toBe(400);
  });

  it('the CapabilityStatement lists near on Location', async () => {
    const cs = (await t.http.get('/fhir/metadata')).body;
    const loc = cs.rest[0].resource.find((r: any) => r.type === 'Location');
    expect(loc.searchParam).toContainEqual({ name: 'near', type: 'special', definition: 'http://hl7.org/fhir/SearchParameter/Location-near' });
  });

  it('the SearchIndexPosition migration indexes the Locations stored before it', async () => {
    const id = await create(t, location('stored before', { latitude: 45, longitude: 7 }));
    await t.db.query(`DELETE FROM search_index WHERE kind = 'g' AND resource_id = $1`, [id]);
    expect(await ids(t, 'Location?near=45|7|1|km')).toEqual([]);
    await new SearchIndexPosition1795646000000().up({ query: (sql: string) => t.db.query(sql) } as any);
    expect(await ids(t, 'Location?near=45|7|1|km')).toEqual([id]);
    // run twice: no duplicate rows
    await new SearchIndexPosition1795646000000().up({ query: (sql: string) => t.db.query(sql) } as any);
    const rows = await t.db.query(`SELECT count(*)::int AS n FROM search_index WHERE kind = 'g' AND resource_id = $1`, [id]);
    expect(rows.rows[0].n).toBe(1);
  });
});

// The same search over real positions: the Massachusetts hospitals and clinics of a Synthea
// hospitalInformation bundle (194 Locations), loaded as the transaction it is. The expected sets are
// computed here with the spherical law of cosines (not the server's haversine); Locations within 10 m
// of a circle's edge are left out of the comparison, where the two formulas' rounding could differ.
const describeSynthea = syntheaPresent() ? describe : describe.skip;
describeSynthea('Location?near= on Synthea hospital Locations', () => {
  let t: TestApp;
  const positions = new Map<string, { latitude: number; longitude: number }>();

  beforeAll(async () => {
    t = await startTestApp();
    const bundle = readBundle(path.join(SYNTHEA_ROOT, 'blaze', '0-hospitalInformation1625911868739.json.gz'));
    const res = await t.http.post('/fhir').set('Content-Type', 'application/fhir+json').send(bundle);
    expect(res.status).toBe(200);
    bundle.entry!.forEach((e, i) => {
      const r = e.resource as any;
      if (r.resourceType === 'Location' && r.position) positions.set(res.body.entry[i].response.location.split('/')[1], r.position);
    });
    expect(positions.size).toBe(194);
  }, 60_000);
  afterAll(async () => t?.close());

  const lawOfCosinesKm = (a: { latitude: number; longitude: number }, b: { latitude: number; longitude: number }) => {
    const r = Math.PI / 180;
    const c = Math.sin(a.latitude * r) * Math.sin(b.latitude * r) + Math.cos(a.latitude * r) * Math.cos(b.latitude * r) * Math.cos((b.longitude - a.longitude) * r);
    return 6371.0088 * Math.acos(Math.min(1, Math.max(-1, c)));
  };

  it.each([
    ['Boston', 42.3601, -71.0589, 5, 'km'],
    ['Boston', 42.3601, -71.0589, 25, 'km'],
    ['Worcester', 42.2626, -71.8023, 20000, 'm'],
    ['Springfield', 42.1015, -72.5898, 30, '[mi_i]'],
  ])('%s (%d, %d) within %d %s', async (_, lat, lon, distance, unit) => {
    const km = distance * (unit === 'm' ? 0.001 : unit === '[mi_i]' ? 1.609344 : 1);
    const found = new Set(await ids(t, `Location?near=${lat}|${lon}|${distance}|${encodeURIComponent(unit)}&_count=1000`));
    const edge = 0.01;
    const expected = [...positions].filter(([, p]) => lawOfCosinesKm({ latitude: lat, longitude: lon }, p) < km - edge).map(([id]) => id);
    const outside = [...positions].filter(([, p]) => lawOfCosinesKm({ latitude: lat, longitude: lon }, p) > km + edge).map(([id]) => id);
    expect(expected.length).toBeGreaterThan(0);
    expect(outside.length).toBeGreaterThan(0);
    for (const id of expected) expect(found).toContain(id);
    for (const id of outside) expect(found).not.toContain(id);
  });
});
