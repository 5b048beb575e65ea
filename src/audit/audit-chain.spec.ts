import { createHash } from 'crypto';
import { AuditRow, CANONICAL_KEYS, canonicalRow, compareKey, linkHash, rowHash, rowHashHex, toRow, ZERO_HASH } from './audit-chain';

const row: AuditRow = {
  id: '01a2138f-d8c6-709e-a1a7-98c24b75fe6d',
  tx: '9186',
  recorded: '2026-11-25T16:35:23.974123Z',
  type: 'rest',
  subtype: ['read'],
  action: 'R',
  outcome: 0,
  outcome_desc: null,
  client_id: 'app',
  user_ref: 'Practitioner/1',
  user_name: null,
  token_id: null,
  network: '10.0.0.1',
  request_id: 'r1',
  entity_type: 'Patient',
  entity_id: 'p1',
  entity_version: 2,
  query: null,
  patient: ['p1'],
};

describe('audit chain hashing', () => {
  it('row_hash = SHA-256(canonical row); link = SHA-256(previous link || seq (8 bytes, big-endian) || tx || row_hash)', () => {
    const canonical = canonicalRow(row);
    expect(rowHash(row).equals(createHash('sha256').update(canonical).digest())).toBe(true);
    const seq = Buffer.from([0, 0, 0, 0, 0, 0, 0, 7]);
    const expected = createHash('sha256').update(Buffer.concat([ZERO_HASH, seq, Buffer.from('9186'), rowHash(row)])).digest();
    expect(linkHash(ZERO_HASH, 7, '9186', rowHash(row)).equals(expected)).toBe(true);
  });

  it('the canonical row is the JSON array of CANONICAL_KEYS in order, missing values null; rowHashHex is rowHash in hex', () => {
    const sparse = { ...row, outcome_desc: undefined, query: undefined, entity_version: undefined } as unknown as AuditRow;
    for (const r of [row, sparse]) {
      expect(canonicalRow(r)).toBe(JSON.stringify(CANONICAL_KEYS.map((k) => r[k] ?? null)));
      expect(rowHashHex(r)).toBe(rowHash(r).toString('hex'));
    }
    expect(canonicalRow(sparse)).toContain(',null,');
  });

  it('every column but tx is in the row hash; tx is in the link', () => {
    const base = canonicalRow(row);
    for (const key of Object.keys(row) as (keyof AuditRow)[]) {
      if (key === 'tx') continue;
      const changed = { ...row, [key]: Array.isArray(row[key]) ? ['x'] : key === 'outcome' || key === 'entity_version' ? 99 : 'x' };
      expect(canonicalRow(changed as AuditRow)).not.toBe(base);
    }
    expect(linkHash(ZERO_HASH, 1, '9186', rowHash(row)).equals(linkHash(ZERO_HASH, 1, '9187', rowHash(row)))).toBe(false);
  });

  it('a record becomes the row the database reads back: microsecond timestamp, text PostgreSQL accepts', () => {
    const r = toRow('id', {
      recorded: new Date('2026-11-25T16:35:23.974Z'),
      type: 'rest',
      subtype: ['read'],
      action: 'R',
      outcome: 4,
      outcomeDesc: 'bad \u0000 value \ud800!',
      patient: [],
    });
    expect(r.recorded).toBe('2026-11-25T16:35:23.974000Z');
    expect(r.outcome_desc).toBe('bad  value \ufffd!');
    expect(r.client_id).toBeNull();
  });

  it('orders by transaction id numerically, then id', () => {
    expect(compareKey({ tx: '9', id: 'b' }, { tx: '10', id: 'a' })).toBe(-1);
    expect(compareKey({ tx: '10', id: 'a' }, { tx: '10', id: 'b' })).toBe(-1);
    expect(compareKey({ tx: '10', id: 'a' }, { tx: '10', id: 'a' })).toBe(0);
  });
});
