import { ResourceStorage1764086400000 } from './1764086400000-ResourceStorage';

/** Every migration, in order. New migrations are appended here. */
export const migrations = [ResourceStorage1764086400000];
