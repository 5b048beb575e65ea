import type { BundleEntrySearch, Extension } from 'fhir/r4';
import { badRequest } from '../errors';
import type { SqlParams } from '../storage/sql-params';
import type { PathValue } from './expression';
import { canonicalUnit } from './ucum';

/**
 * `Location.near` (the one `special` parameter of R4, location.html#positional): Locations whose
 * `position` lies within a distance of a point, `near=[latitude]|[longitude]|[distance]|[units]`
 * (WGS84 degrees; units UCUM, km when omitted). Positions are index rows of kind `g`
 * (latitude in `nlow`, longitude in `nhigh`); a search reads the latitude band of its circle from
 * the (phash, nlow) index of those rows and keeps the rows within the distance on the sphere.
 */
export const NEAR_URL = 'http://hl7.org/fhir/SearchParameter/Location-near';

/** The distance when the search gives none ("the server can use its own discretion"). */
export const DEFAULT_NEAR_METERS = 1000;

/** Mean Earth radius (IUGG), metres: the sphere distances are measured on (the spec allows "differing accuracies"). */
const EARTH_RADIUS_M = 6_371_008.8;

export interface Position {
  latitude: number;
  longitude: number;
}

export interface NearValue extends Position {
  /** the radius, in metres */
  meters: number;
}

const validPosition = (lat: unknown, lon: unknown): boolean =>
  typeof lat === 'number' && typeof lon === 'number' && Math.abs(lat) <= 90 && Math.abs(lon) <= 180;

/** The position a `Location.position` value holds (none when either coordinate is missing or out of range). */
export function positionEntries(pv: PathValue): Position[] {
  const v = pv.value as { latitude?: unknown; longitude?: unknown } | undefined;
  return v && validPosition(v.latitude, v.longitude) ? [{ latitude: v.latitude as number, longitude: v.longitude as number }] : [];
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** `latitude|longitude[|distance[|units]]`; 400 when a part is not a number in range or the unit is not a UCUM length. */
export function parseNear(raw: string, name: string): NearValue {
  const parts = raw.split('|');
  if (parts.length < 2 || parts.length > 4) throw badRequest(`${name}: "${raw}" must be latitude|longitude|distance|units`);
  const [lat, lon, distance, units] = parts.map((p) => p.trim());
  const num = (s: string, what: string) => {
    if (!DECIMAL.test(s)) throw badRequest(`${name}: ${what} "${s}" is not a number`);
    return Number(s);
  };
  const latitude = num(lat, 'latitude');
  const longitude = num(lon, 'longitude');
  if (!validPosition(latitude, longitude)) throw badRequest(`${name}: latitude must be within ±90 and longitude within ±180 degrees`);
  // no distance: our own "near" (and the units, if any, are irrelevant: the parameter's definition)
  if (!distance) return { latitude, longitude, meters: DEFAULT_NEAR_METERS };
  const value = num(distance, 'distance');
  if (value < 0) throw badRequest(`${name}: the distance must not be negative`);
  const unit = canonicalUnit(units || 'km');
  if (!unit || unit.unit !== 'm') throw badRequest(`${name}: "${units}" is not a UCUM unit of length (km, m, [mi_i], …)`);
  return { latitude, longitude, meters: unit.convert(value) };
}

/** Great-circle distance in metres (haversine). */
export function distanceMeters(a: Position, b: Position): number {
  const rad = Math.PI / 180;
  const h =
    Math.sin(((b.latitude - a.latitude) * rad) / 2) ** 2 +
    Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(((b.longitude - a.longitude) * rad) / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** A margin on the bounding box (degrees): the box only narrows the scan, the distance decides. */
const MARGIN = 1e-6;

/**
 * The condition on a position row `x` (its kind and phash selected by the caller): inside the
 * circle's bounding box (a latitude range the index reads, a longitude range or two across the
 * antimeridian, none when the circle reaches a pole) and within the distance on the sphere.
 */
export function nearCondition(p: SqlParams, v: NearValue, x: string): string {
  const reach = v.meters / EARTH_RADIUS_M; // angular radius, radians
  const reachDeg = (reach * 180) / Math.PI;
  const conds = [`${x}.nlow BETWEEN ${p.bind(v.latitude - reachDeg - MARGIN, 'numeric')} AND ${p.bind(v.latitude + reachDeg + MARGIN, 'numeric')}`];
  const cosLat = Math.cos((v.latitude * Math.PI) / 180);
  if (Math.abs(v.latitude) + reachDeg < 90 && Math.sin(reach) < cosLat) {
    const dLon = (Math.asin(Math.sin(reach) / cosLat) * 180) / Math.PI + MARGIN;
    const [west, east] = [v.longitude - dLon, v.longitude + dLon];
    const lon = (op: string, bound: number) => `${x}.nhigh ${op} ${p.bind(bound, 'numeric')}`;
    if (west < -180) conds.push(`(${lon('>=', west + 360)} OR ${lon('<=', east)})`);
    else if (east > 180) conds.push(`(${lon('>=', west)} OR ${lon('<=', east - 360)})`);
    else conds.push(`${x}.nhigh BETWEEN ${p.bind(west, 'numeric')} AND ${p.bind(east, 'numeric')}`);
  }
  const lat = p.bind(v.latitude, 'float8');
  const rowLat = `radians(${x}.nlow::float8)`;
  const h = `power(sin((${rowLat} - radians(${lat})) / 2), 2) + cos(radians(${lat})) * cos(${rowLat}) * power(sin(radians(${x}.nhigh::float8 - ${p.bind(v.longitude, 'float8')}) / 2), 2)`;
  conds.push(`2 * ${EARTH_RADIUS_M} * asin(least(1, sqrt(${h}))) <= ${p.bind(v.meters, 'float8')}`);
  return `(${conds.join(' AND ')})`;
}

const DISTANCE_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/location-distance';

/**
 * `Bundle.entry.search` of a Location matched by `near`: with the `location-distance` extension,
 * the distance to the closest point searched (extension-location-distance.html), in metres or
 * kilometres. Nothing when the resource has no valid position (matched by another criterion).
 */
export function nearEntrySearch(content: string, points: Position[]): BundleEntrySearch {
  const search: BundleEntrySearch = { mode: 'match' };
  let position: Position | undefined;
  try {
    position = positionEntries({ value: (JSON.parse(content) as { position?: unknown }).position } as PathValue)[0];
  } catch {
    position = undefined;
  }
  if (!position || points.length === 0) return search;
  const meters = Math.min(...points.map((pt) => distanceMeters(pt, position!)));
  const km = meters >= 1000;
  const value = Number((km ? meters / 1000 : meters).toPrecision(6));
  const ext: Extension = { url: DISTANCE_EXTENSION, valueDistance: { value, unit: km ? 'km' : 'm', system: 'http://unitsofmeasure.org', code: km ? 'km' : 'm' } };
  return { ...search, extension: [ext] };
}
