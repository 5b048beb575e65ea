import { hashedColumns, RowKeys } from './row-key';

describe('RowKeys', () => {
  const columns = [{ name: 'param' }, { name: 'value' }, { name: 'hash', derived: true }];
  const n = hashedColumns(columns);

  it('hashes the owner and the value columns, not the derived ones', () => {
    expect(n).toBe(2);
    const a = new RowKeys('Patient', 'p1', n);
    expect(a.key(['family', 'smith', '123'])).toBe(a.key(['family', 'smith', '456']));
    expect(a.key(['family', 'smith', '123'])).not.toBe(a.key(['family', 'smyth', '123']));
    expect(a.key(['family', 'smith'])).not.toBe(new RowKeys('Patient', 'p2', n).key(['family', 'smith']));
    expect(a.key(['family', 'smith'])).not.toBe(new RowKeys('Person', 'p1', n).key(['family', 'smith']));
  });

  it('tells value boundaries and nulls apart', () => {
    const a = new RowKeys('Patient', 'p1', n);
    expect(a.key(['ab', 'c'])).not.toBe(a.key(['a', 'bc']));
    expect(a.key(['family', null])).not.toBe(a.key(['family', '']));
    expect(Number.isSafeInteger(a.key(['family', 'smith']))).toBe(true);
  });
});
