import { defaultPoolSize, loadConfig } from './config';

describe('DB_POOL_SIZE', () => {
  it('defaults to 4 connections per core, at least 4 and at most 20', () => {
    expect([1, 2, 3, 5, 16].map((cores) => defaultPoolSize(cores))).toEqual([4, 8, 12, 20, 20]);
    expect(loadConfig({}).dbPoolSize).toBe(defaultPoolSize());
  });

  it('is taken as given when set', () => {
    expect(loadConfig({ DB_POOL_SIZE: '3' }).dbPoolSize).toBe(3);
  });
});
