import { collectReferences, isPlaceholder, rewriteReferences } from './references';

// R4 http.html §3.1.0.11.2: references to fullUrls are rewritten wherever they are in a resource
describe('references', () => {
  const resource = () => ({
    resourceType: 'Observation',
    subject: { reference: 'urn:uuid:p' },
    extension: [{ url: 'x', valueReference: { reference: 'urn:uuid:p' } }],
    contained: [{ resourceType: 'Provenance', target: [{ reference: 'urn:oid:1.2.3' }] }],
    performer: [{ reference: '#c1' }, { reference: 'Practitioner?identifier=a|b' }],
    note: [{ extension: [{ url: 'http://x', valueUri: 'urn:uuid:p' }], text: 'urn:uuid:p' }],
    derivedFrom: [{ reference: 'Media/1' }],
    attachment: { url: 'urn:oid:1.2.3', title: 'urn:oid:1.2.3' },
    text: { status: 'generated', div: '<div><a href="urn:uuid:p">p</a> and <a href="urn:oid:1.2.3">o</a></div>' },
  });

  it('finds Reference.reference at any depth and narratives that mention placeholders', () => {
    const sites = collectReferences(resource());
    expect(sites.filter((s) => s.kind === 'link').map((s) => s.value)).toEqual(['http://x', 'urn:uuid:p', 'urn:oid:1.2.3']);
    expect(sites.filter((s) => s.kind === 'reference').map((s) => s.value)).toEqual([
      'urn:uuid:p',
      'urn:uuid:p',
      'urn:oid:1.2.3',
      '#c1',
      'Practitioner?identifier=a|b',
      'Media/1',
    ]);
    expect(sites.filter((s) => s.kind === 'div')).toHaveLength(1);
  });

  it('rewrites in place with the resolver and leaves unknown references alone', () => {
    const r = resource();
    const map = new Map([
      ['urn:uuid:p', 'Patient/1'],
      ['urn:oid:1.2.3', 'Observation/2'],
      ['Practitioner?identifier=a|b', 'Practitioner/3'],
    ]);
    rewriteReferences(collectReferences(r), (ref) => map.get(ref));
    expect(r.subject.reference).toBe('Patient/1');
    expect(r.extension[0].valueReference.reference).toBe('Patient/1');
    expect(r.contained[0].target[0].reference).toBe('Observation/2');
    expect(r.performer.map((p) => p.reference)).toEqual(['#c1', 'Practitioner/3']);
    expect(r.text.div).toBe('<div><a href="Patient/1">p</a> and <a href="Observation/2">o</a></div>');
    // uri/url elements that link to an entry are rewritten; plain strings are not
    expect(r.note[0].extension[0].valueUri).toBe('Patient/1');
    expect(r.note[0].text).toBe('urn:uuid:p');
    expect(r.attachment).toEqual({ url: 'Observation/2', title: 'urn:oid:1.2.3' });
  });

  // the R4 example Bundle-xds: Attachment.url names the fullUrl http://localhost:9556/svc/fhir/Binary/1e40… of a POSTed entry
  it('rewrites uri/url elements and narrative links that hold an absolute fullUrl', () => {
    const full = 'http://example.org/fhir/Binary/b1';
    const r = {
      resourceType: 'DocumentReference',
      content: [{ attachment: { url: full } }, { attachment: { url: 'http://example.org/other' } }],
      extension: [{ url: 'http://example.org/ext', valueUrl: full }],
      text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml"><a href="${full}">doc</a> <img src="${full}"/> ${full}</div>` },
    };
    const map = new Map([[full, 'Binary/9']]);
    rewriteReferences(collectReferences(r), (ref) => map.get(ref));
    expect(r.content.map((c) => c.attachment.url)).toEqual(['Binary/9', 'http://example.org/other']);
    expect(r.extension[0]).toEqual({ url: 'http://example.org/ext', valueUrl: 'Binary/9' });
    expect(r.text.div).toBe(`<div xmlns="http://www.w3.org/1999/xhtml"><a href="Binary/9">doc</a> <img src="Binary/9"/> ${full}</div>`);
  });

  it('knows the placeholder forms', () => {
    expect(isPlaceholder('urn:uuid:abc')).toBe(true);
    expect(isPlaceholder('urn:oid:1.2')).toBe(true);
    expect(isPlaceholder('Patient/1')).toBe(false);
  });
});
