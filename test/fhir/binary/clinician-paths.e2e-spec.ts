import * as fs from 'fs';
import * as path from 'path';
import type { Bundle, DiagnosticReport } from 'fhir/r4';
import { FHIR_JSON, startTestApp, TestApp } from '../../helpers/test-app';
import { bundleNamed, loadBundles, syntheaAvailable } from '../export/synthea';

const BINARY_EXAMPLE = path.join(__dirname, '..', '..', '..', '..', 'shared', 'fixtures', 'r4-examples', 'Binary-example.json');
const available = syntheaAvailable() && fs.existsSync(BINARY_EXAMPLE);
if (!available) console.warn('Synthea or R4 example fixtures not found (../shared/fixtures): clinician path tests skipped');

function bytes(res: any, cb: (err: Error | null, body: Buffer) => void): void {
  const parts: Buffer[] = [];
  res.on('data', (c: Buffer) => parts.push(c));
  res.on('end', () => cb(null, Buffer.concat(parts)));
}

/**
 * What a clinician's app does with lab reports and documents (R4 search.html
 * _include, diagnosticreport.html presentedForm, documentreference.html
 * content.attachment.url, http.html#binary), on Synthea data.
 */
(available ? describe : describe.skip)('clinician paths: lab reports, imaging, documents', () => {
  let t: TestApp;
  let bundle: Bundle;
  let ids: Map<string, string>;
  let patient: string;
  let pdf: Buffer;

  beforeAll(async () => {
    t = await startTestApp();
    bundle = bundleNamed('Abdul_Koepp'); // has lab reports and an ImagingStudy
    [ids] = await loadBundles(t, [bundle]);
    patient = ids.get(bundle.entry!.find((e) => e.resource!.resourceType === 'Patient')!.fullUrl!)!.split('/')[1];
    pdf = Buffer.from(JSON.parse(fs.readFileSync(BINARY_EXAMPLE, 'utf8')).data, 'base64');
  });
  afterAll(async () => t?.close());

  it('DiagnosticReport?patient=…&category=LAB&_include=DiagnosticReport:result: the reports and exactly their results', async () => {
    const reports = bundle.entry!.filter((e) => e.resource!.resourceType === 'DiagnosticReport');
    const lab = reports.filter((e) => (e.resource as DiagnosticReport).category?.some((c) => c.coding?.some((x) => x.code === 'LAB')));
    const results = new Set(lab.flatMap((e) => (e.resource as DiagnosticReport).result ?? []).map((r) => ids.get(r.reference!)));
    const r = await t.http.get(`/fhir/DiagnosticReport?patient=${patient}&category=LAB&_include=DiagnosticReport:result&_count=100`);
    expect(r.status).toBe(200);
    const matches = r.body.entry.filter((e: any) => e.search.mode === 'match').map((e: any) => `DiagnosticReport/${e.resource.id}`);
    const included = r.body.entry.filter((e: any) => e.search.mode === 'include').map((e: any) => `Observation/${e.resource.id}`);
    expect(new Set(matches)).toEqual(new Set(lab.map((e) => ids.get(e.fullUrl!))));
    expect(new Set(included)).toEqual(results);
  });

  it('ImagingStudy?patient=…: the patient\'s studies', async () => {
    const studies = bundle.entry!.filter((e) => e.resource!.resourceType === 'ImagingStudy').map((e) => ids.get(e.fullUrl!));
    const r = await t.http.get(`/fhir/ImagingStudy?patient=${patient}`);
    expect(r.body.entry.map((e: any) => `ImagingStudy/${e.resource.id}`).sort()).toEqual(studies.sort());
  });

  it('a DiagnosticReport.presentedForm and a DocumentReference attachment point at a Binary PDF that downloads byte-exact', async () => {
    const bin = await t.http.post('/fhir/Binary').set('Content-Type', 'application/pdf').send(pdf);
    const url = `${t.baseUrl}/Binary/${bin.body.id}`;
    const report = bundle.entry!.find((e) => e.resource!.resourceType === 'DiagnosticReport')!;
    const reportId = ids.get(report.fullUrl!)!.split('/')[1];
    const current = (await t.http.get(`/fhir/DiagnosticReport/${reportId}`)).body;
    const put = await t.http
      .put(`/fhir/DiagnosticReport/${reportId}`)
      .send({ ...current, presentedForm: [{ contentType: 'application/pdf', url, title: 'report.pdf' }] });
    expect(put.status).toBe(200);
    await t.http.post('/fhir/DocumentReference').set('Content-Type', FHIR_JSON).send({
      resourceType: 'DocumentReference',
      status: 'current',
      type: { coding: [{ system: 'http://loinc.org', code: '11502-2', display: 'Laboratory report' }] },
      subject: { reference: `Patient/${patient}` },
      content: [{ attachment: { contentType: 'application/pdf', url } }],
    });
    const docs = await t.http.get(`/fhir/DocumentReference?patient=${patient}&type=http://loinc.org|11502-2`);
    expect(docs.body.entry.length).toBe(1);
    const attachment = docs.body.entry[0].resource.content[0].attachment.url;
    const form = (await t.http.get(`/fhir/DiagnosticReport/${reportId}`)).body.presentedForm[0].url;
    for (const link of [attachment, form]) {
      const d = await t.http.get(link.slice(t.config.publicUrl.length)).set('Accept', 'application/pdf').buffer(true).parse(bytes);
      expect(d.status).toBe(200);
      expect(d.headers['content-type']).toBe('application/pdf');
      expect(d.body.equals(pdf)).toBe(true);
    }
  });
});
