/** Collects bound parameters for one statement: `bind(v, 'text[]')` returns `$n::text[]`. */
export class SqlParams {
  readonly values: unknown[] = [];

  bind = (value: unknown, type?: string): string => {
    this.values.push(value);
    return type ? `$${this.values.length}::${type}` : `$${this.values.length}`;
  };
}
