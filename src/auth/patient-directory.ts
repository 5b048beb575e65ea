import { Injectable } from '@nestjs/common';
import type { Patient } from 'fhir/r4';
import { Database } from '../database/database';
import { FhirError } from '../fhir/errors';
import { SearchService } from '../fhir/search/search.service';

const PICKER_LIMIT = 50;

/** Patients for the picker, found by name through the search engine. */
@Injectable()
export class PatientDirectory {
  constructor(
    private readonly db: Database,
    private readonly search: SearchService,
  ) {}

  async find(name: string): Promise<{ id: string; label: string }[]> {
    let ids: string[];
    try {
      const matches = await this.search.findMatches('Patient', name ? [['name', name]] : [], { limit: PICKER_LIMIT });
      ids = matches.map((m) => m.id);
    } catch (err) {
      // search not available (501): the newest patients, filtered by name here
      if (!(err instanceof FhirError) || err.status !== 501) throw err;
      return (await this.newest(PICKER_LIMIT * 20))
        .filter((p) => !name || patientLabel(p).toLowerCase().includes(name.toLowerCase()))
        .slice(0, PICKER_LIMIT)
        .map((p) => ({ id: p.id!, label: patientLabel(p) }));
    }
    if (!ids.length) return [];
    const { rows } = await this.db.query(
      `SELECT content FROM resource WHERE resource_type = 'Patient' AND id = ANY($1::text[]) AND NOT deleted`,
      [ids],
    );
    return rows
      .map((r) => JSON.parse(r.content) as Patient)
      .map((p) => ({ id: p.id!, label: patientLabel(p) }))
      .sort((a, b) => a.label.localeCompare(b.label));
  }

  /** Is Encounter/`encounter` a current Encounter of Patient/`patient` (Encounter.subject)? */
  async encounterOf(patient: string, encounter: string): Promise<boolean> {
    try {
      const params: [string, string][] = [['_id', encounter], ['patient', `Patient/${patient}`]];
      return (await this.search.findMatches('Encounter', params, { limit: 1 })).length > 0;
    } catch (err) {
      if (err instanceof FhirError && err.status === 400) return false; // a malformed id
      throw err;
    }
  }

  async label(id: string): Promise<string | undefined> {
    const { rows } = await this.db.query(
      `SELECT content FROM resource WHERE resource_type = 'Patient' AND id = $1 AND NOT deleted`,
      [id],
    );
    return rows[0] ? patientLabel(JSON.parse(rows[0].content)) : undefined;
  }

  private async newest(limit: number): Promise<Patient[]> {
    const { rows } = await this.db.query(
      `SELECT content FROM resource WHERE resource_type = 'Patient' AND NOT deleted ORDER BY last_updated DESC LIMIT $1`,
      [limit],
    );
    return rows.map((r) => JSON.parse(r.content));
  }
}

/** `Given Family (birth date)`, or the id when the patient has no name. */
export function patientLabel(p: Patient): string {
  const n = p.name?.find((x) => x.use === 'official') ?? p.name?.[0];
  const text = n ? n.text ?? [...(n.given ?? []), n.family].filter(Boolean).join(' ') : '';
  const label = text || `Patient ${p.id}`;
  return p.birthDate ? `${label} (born ${p.birthDate})` : label;
}
