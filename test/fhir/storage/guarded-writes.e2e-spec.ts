import { randomUUID } from 'crypto';
import { AuditService } from '../../../src/audit/audit.service';
import { StorageService } from '../../../src/fhir/storage/storage.service';
import type { VersionWrite } from '../../../src/fhir/storage/storage.types';
import { startTestApp, TestApp } from '../../helpers/test-app';

/**
 * A write statement adds its history, search index and audit rows only for the versions it actually
 * wrote (`written`; ResourceRepository): a create whose id already exists, or an update whose
 * expected version is no longer current, leaves every table as it was (http.html: the interaction
 * failed, so nothing of it is stored or indexed). Checked for one version (its rows guarded by a
 * one-time test of `written`) and for several (joined with `written`).
 */
describe('write statements add rows only for the versions they wrote', () => {
  let t: TestApp;
  let storage: StorageService;
  let audit: AuditService;
  beforeAll(async () => {
    t = await startTestApp();
    storage = t.app.get(StorageService);
    audit = t.app.get(AuditService);
  });
  afterAll(async () => t.close());

  const patient = (id: string, family: string) => ({ resourceType: 'Patient' as const, id, name: [{ family }], gender: 'female' as const });
  /** rows that mention the resource, per table */
  const counts = async (ids: string[]) =>
    (
      await t.db.query(
        `SELECT (SELECT count(*) FROM resource_history WHERE resource_type = 'Patient' AND id = ANY($1)) AS history,
                (SELECT count(*) FROM search_index WHERE resource_id = ANY($1)) AS index_rows,
                (SELECT count(*) FROM search_index WHERE resource_id = ANY($1) AND param = 'family' AND value = 'loser') AS loser_rows,
                (SELECT count(*) FROM audit_event WHERE entity_type = 'Patient' AND entity_id = ANY($1)) AS audit`,
        [ids],
      )
    ).rows[0];
  const extras = () => audit.writeExtras(undefined) ?? [];

  for (const n of [1, 3]) {
    it(`a create of an id that exists writes nothing (${n} version${n > 1 ? 's' : ''} per statement)`, async () => {
      const ids = Array.from({ length: n }, () => randomUUID());
      const first = ids.map((id) => storage.prepare(patient(id, 'Winner'), id, 1, 'POST'));
      expect((await storage.resources.insertVersions(t.db, first, extras())).size).toBe(n);
      const before = await counts(ids);
      expect(Number(before.index_rows)).toBeGreaterThan(0);
      expect(Number(before.audit)).toBe(n);

      const again: VersionWrite[] = ids.map((id) => storage.prepare(patient(id, 'Loser'), id, 1, 'POST'));
      expect((await storage.resources.insertVersions(t.db, again, extras())).size).toBe(0);
      expect(await counts(ids)).toEqual(before);
      expect(Number(before.loser_rows)).toBe(0);
    });

    it(`an update whose expected version is stale writes nothing (${n} version${n > 1 ? 's' : ''} per statement)`, async () => {
      const ids = Array.from({ length: n }, () => randomUUID());
      await storage.resources.insertVersions(t.db, ids.map((id) => storage.prepare(patient(id, 'Current'), id, 1, 'POST')), extras());
      const before = await counts(ids);
      const stale = ids.map((id) => ({ ...storage.prepare(patient(id, 'Loser'), id, 3, 'PUT'), expectedVersion: 2 }));
      expect((await storage.resources.updateVersions(t.db, stale, extras())).size).toBe(0);
      expect(await counts(ids)).toEqual(before);
      const current = ids.map((id) => ({ ...storage.prepare(patient(id, 'Loser'), id, 2, 'PUT'), expectedVersion: 1 }));
      expect((await storage.resources.updateVersions(t.db, current, extras())).size).toBe(n);
      const after = await counts(ids);
      expect(Number(after.history)).toBe(2 * n);
      expect(Number(after.loser_rows)).toBe(n);
      expect(Number(after.audit)).toBe(2 * n);
    });
  }
});
