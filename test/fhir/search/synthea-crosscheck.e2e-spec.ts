import type { Bundle, Condition, DiagnosticReport, Observation, Patient, Resource } from 'fhir/r4';
import { startTestApp, TestApp } from '../../helpers/test-app';
import { patientBundleFiles, readBundle, SYNTHEA_ROOT, syntheaPresent } from './synthea-fixtures';
import { allPages, ids, search, sorted } from './search-helpers';

/**
 * Real data: Synthea patients loaded as transaction Bundles (http.html#transaction), then searches
 * compared with answers computed independently here from the fixture files (plain JSON walking, none of
 * the server's code): search.html#string, #token, #reference, #date, #quantity, #has, #include, #sort,
 * and the Patient compartment.
 */
const present = syntheaPresent();
(present ? describe : describe.skip)('Synthea cross-check', () => {
  let t: TestApp;
  const loaded: { bundle: Bundle; idOf: Map<string, string> }[] = [];
  /** the fixture resources of a bundle, with the server's `Type/id` for each */
  const resources = (i: number) => loaded[i].bundle.entry!.map((e) => ({ r: e.resource as Resource, ref: loaded[i].idOf.get(e.fullUrl!)! }));
  const patientRef = (i: number) => resources(i).find((x) => x.r.resourceType === 'Patient')!.ref;
  const refTo = (i: number, reference: string | undefined) => (reference ? loaded[i].idOf.get(reference) : undefined);
  const codes = (cc: any) => (cc?.coding ?? []).map((c: any) => `${c.system}|${c.code}`);

  /** server ids of the practitioners, by NPI (for the blaze bundle's conditional references) */
  const practitionerByNpi = new Map<string, string>();
  const post = async (bundle: Bundle) => {
    const res = await t.http.post('/fhir').set('Content-Type', 'application/fhir+json').send(bundle);
    if (res.status !== 200) throw new Error(`${bundle.type} failed ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
    const idOf = new Map<string, string>();
    res.body.entry.forEach((e: any, i: number) => {
      const m = /([A-Za-z]+)\/([^/]+)\/_history/.exec(e.response.location ?? '');
      if (m) idOf.set(bundle.entry![i].fullUrl!, `${m[1]}/${m[2]}`);
    });
    return idOf;
  };

  beforeAll(async () => {
    t = await startTestApp();
    // Synthea 2.7 (blaze): organizations and practitioners first; patient bundles refer to them conditionally
    for (const f of ['0-hospitalInformation1625911868739.json.gz', '0-practitionerInformation1625911868739.json.gz']) {
      const bundle = readBundle(`${SYNTHEA_ROOT}/blaze/${f}`);
      const idOf = await post(bundle);
      for (const e of bundle.entry!) {
        const npi = (e.resource as any).identifier?.find((x: any) => x.system === 'http://hl7.org/fhir/sid/us-npi')?.value;
        if (e.resource!.resourceType === 'Practitioner' && npi) practitionerByNpi.set(npi, idOf.get(e.fullUrl!)!);
      }
    }
    for (const file of [...patientBundleFiles('blaze', 1), ...patientBundleFiles('smart-generated-sample-data', 3)]) {
      const bundle = readBundle(file);
      loaded.push({ bundle, idOf: await post(bundle) });
    }
  }, 300_000);
  afterAll(async () => t.close());

  it('Patient by family name prefix (string) and by identifier (token)', async () => {
    for (let i = 0; i < loaded.length; i++) {
      const p = resources(i).find((x) => x.r.resourceType === 'Patient')!;
      const family = (p.r as Patient).name![0].family!;
      const expected = loaded
        .flatMap((_, j) => resources(j).filter((x) => x.r.resourceType === 'Patient'))
        .filter((x) => (x.r as Patient).name!.some((n) => n.family?.toLowerCase().startsWith(family.slice(0, 3).toLowerCase())))
        .map((x) => x.ref.split('/')[1]);
      expect(await ids(t, `Patient?family=${encodeURIComponent(family.slice(0, 3).toUpperCase())}`)).toEqual(sorted(expected));
      const ident = (p.r as Patient).identifier!.find((x) => x.system && x.value)!;
      expect(await ids(t, `Patient?identifier=${encodeURIComponent(`${ident.system}|${ident.value}`)}`)).toEqual([p.ref.split('/')[1]]);
    }
  });

  it('Observations of a patient by code (reference + token), by date (ge), by value (quantity gt)', async () => {
    for (let i = 0; i < loaded.length; i++) {
      const obs = resources(i).filter((x) => x.r.resourceType === 'Observation') as { r: Observation; ref: string }[];
      const mine = obs.filter((x) => refTo(i, x.r.subject?.reference) === patientRef(i));
      const code = codes(mine[0].r.code)[0];
      const byCode = mine.filter((x) => codes(x.r.code).includes(code)).map((x) => x.ref.split('/')[1]);
      expect(await allPages(t, `Observation?subject=${patientRef(i)}&code=${encodeURIComponent(code)}&_count=50`).then(sorted)).toEqual(sorted(byCode));
      const dates = mine.map((x) => x.r.effectiveDateTime!).filter(Boolean).sort();
      const cut = dates[Math.floor(dates.length / 2)].slice(0, 10);
      const onOrAfter = mine.filter((x) => x.r.effectiveDateTime && new Date(x.r.effectiveDateTime) >= new Date(`${cut}T00:00:00Z`)).map((x) => x.ref.split('/')[1]);
      expect(await allPages(t, `Observation?patient=${patientRef(i).split('/')[1]}&date=ge${cut}&_count=100`).then(sorted)).toEqual(sorted(onOrAfter));
      const quantities = mine.filter((x) => x.r.valueQuantity?.value !== undefined && codes(x.r.code).includes(code));
      if (quantities.length) {
        const median = quantities.map((x) => x.r.valueQuantity!.value!).sort((a, b) => a - b)[Math.floor(quantities.length / 2)];
        const above = quantities.filter((x) => x.r.valueQuantity!.value! > median).map((x) => x.ref.split('/')[1]);
        expect(await allPages(t, `Observation?subject=${patientRef(i)}&code=${encodeURIComponent(code)}&value-quantity=gt${median}&_count=100`).then(sorted)).toEqual(sorted(above));
      }
    }
  });

  it('_sort=-date returns the most recent Observations first', async () => {
    const i = 0;
    const mine = (resources(i).filter((x) => x.r.resourceType === 'Observation') as { r: Observation; ref: string }[]).filter(
      (x) => refTo(i, x.r.subject?.reference) === patientRef(i),
    );
    const latest = mine.map((x) => new Date(x.r.effectiveDateTime!).getTime()).sort((a, b) => b - a).slice(0, 10);
    const b = await search(t, `Observation?subject=${patientRef(i)}&_sort=-date&_count=10`);
    expect(b.entry.map((e: any) => new Date(e.resource.effectiveDateTime).getTime())).toEqual(latest);
  });

  it('the Patient compartment holds exactly the resources whose compartment references point at the patient', async () => {
    for (let i = 0; i < loaded.length; i++) {
      for (const type of ['Encounter', 'Condition', 'MedicationRequest', 'Immunization', 'Procedure']) {
        const expected = resources(i)
          .filter((x) => x.r.resourceType === type)
          .filter((x) => [(x.r as any).subject, (x.r as any).patient].some((ref) => refTo(i, ref?.reference) === patientRef(i)))
          .map((x) => x.ref.split('/')[1]);
        expect(await allPages(t, `${patientRef(i)}/${type}?_count=200`).then(sorted)).toEqual(sorted(expected));
      }
    }
  });

  it('_has finds the patients with a given condition; _include brings a report’s results', async () => {
    const conditions = loaded.flatMap((_, i) => (resources(i).filter((x) => x.r.resourceType === 'Condition') as { r: Condition; ref: string }[]).map((x) => ({ i, c: x.r })));
    const code = codes(conditions[0].c.code)[0];
    const patients = new Set(conditions.filter((x) => codes(x.c.code).includes(code)).map((x) => refTo(x.i, x.c.subject.reference)!.split('/')[1]));
    expect(await ids(t, `Patient?_has:Condition:patient:code=${encodeURIComponent(code)}`)).toEqual(sorted([...patients]));
    const reports = (resources(0).filter((x) => x.r.resourceType === 'DiagnosticReport') as { r: DiagnosticReport; ref: string }[]).filter((x) => x.r.result?.length);
    if (reports.length) {
      const report = reports[0];
      const b = await search(t, `DiagnosticReport?_id=${report.ref.split('/')[1]}&_include=DiagnosticReport:result`);
      const included = b.entry.filter((e: any) => e.search.mode === 'include').map((e: any) => `${e.resource.resourceType}/${e.resource.id}`);
      expect(sorted(included)).toEqual(sorted([...new Set(report.r.result!.map((x) => refTo(0, x.reference)!))]));
    }
  });

  it('conditional references of a transaction (Practitioner?identifier=…) are searchable as resolved references', async () => {
    const encounters = resources(0).filter((x) => x.r.resourceType === 'Encounter');
    const byPractitioner = new Map<string, string[]>();
    for (const x of encounters) {
      for (const p of (x.r as any).participant ?? []) {
        const npi = /us-npi\|(\d+)$/.exec(p.individual?.reference ?? '')?.[1];
        const id = npi && practitionerByNpi.get(npi);
        if (id) byPractitioner.set(id, [...(byPractitioner.get(id) ?? []), x.ref.split('/')[1]]);
      }
    }
    expect(byPractitioner.size).toBeGreaterThan(0);
    for (const [practitioner, encs] of byPractitioner) {
      expect(await allPages(t, `Encounter?practitioner=${practitioner}&_count=200`).then(sorted)).toEqual(sorted([...new Set(encs)]));
    }
  });
});
