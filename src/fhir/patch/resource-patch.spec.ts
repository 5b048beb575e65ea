import type { Resource } from 'fhir/r4';
import { expectFhirError } from '../../../test/helpers/fhir-error';
import { applyResourcePatch, readPatch } from './resource-patch';

/** JSON Patch (RFC 6902) over RFC 6901 pointers, as the server applies it. */
const patient = { resourceType: 'Patient', id: 'p', identifier: [{ value: 'a' }, { value: 'b' }] } as Resource;
const run = (ops: unknown[]) => applyResourcePatch(patient, readPatch(ops)) as any;

describe('JSON Patch', () => {
  it('applies add, remove, replace, move, copy and test in order, on a copy', () => {
    const out = run([
      { op: 'add', path: '/identifier/-', value: { value: 'c' } },
      { op: 'move', from: '/identifier/0', path: '/identifier/2' },
      { op: 'copy', from: '/identifier/0', path: '/identifier/0' },
      { op: 'remove', path: '/identifier/1' },
      { op: 'replace', path: '/id', value: 'p' },
      { op: 'test', path: '/identifier', value: [{ value: 'b' }, { value: 'c' }, { value: 'a' }] },
    ]);
    expect(out.identifier).toEqual([{ value: 'b' }, { value: 'c' }, { value: 'a' }]);
    expect((patient as any).identifier).toEqual([{ value: 'a' }, { value: 'b' }]);
  });

  it('RFC 6901 §4: an array index is "0" or digits without a leading zero, "-" only last (422 otherwise)', () => {
    for (const op of [
      { op: 'test', path: '/identifier/01', value: { value: 'b' } },
      { op: 'test', path: '/identifier/', value: { value: 'a' } },
      { op: 'test', path: '/identifier/01/value', value: 'b' },
      { op: 'add', path: '/identifier/01', value: { value: 'x' } },
      { op: 'copy', from: '/identifier/0', path: '/identifier/00' },
      { op: 'move', from: '/identifier/0', path: '/identifier/01' },
      { op: 'add', path: '/identifier/-/value', value: 'x' },
    ]) {
      expectFhirError(() => run([op]), 422, /OPERATION_PATH_ILLEGAL_ARRAY_INDEX at operation 0/);
    }
    expect(run([{ op: 'add', path: '/identifier/1', value: { value: 'x' } }]).identifier[1]).toEqual({ value: 'x' });
  });

  it('a patch that leaves no resource (remove or replace the root by a non-object) is 422, not a crash', () => {
    for (const ops of [[{ op: 'remove', path: '' }], [{ op: 'replace', path: '', value: null }], [{ op: 'replace', path: '', value: [patient] }]]) {
      expectFhirError(() => run(ops), 422, /the result is not a resource/);
    }
    expect(run([{ op: 'replace', path: '', value: { ...patient, active: true } }]).active).toBe(true);
  });
});
