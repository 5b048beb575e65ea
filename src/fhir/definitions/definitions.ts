import * as fs from 'fs';
import * as path from 'path';
import { projectRoot } from '../../config/project-root';
import {
  buildDefinitions,
  CompactDefinitions,
  definitionsSourceVersion,
  ElementInfo,
  SearchParameterInfo,
  TypeInfo,
} from './build-definitions';

export type { CompactDefinitions, ElementInfo, SearchParameterInfo, TypeInfo };

let cached: CompactDefinitions | undefined;

function cacheFile(): string {
  return path.join(projectRoot(), 'generated', 'r4-definitions.json');
}

/**
 * The R4 definitions, loaded once per process. Built from the npm package on
 * first use and cached on disk in `generated/` (keyed by package version).
 */
export function loadDefinitions(): CompactDefinitions {
  if (cached) return cached;
  const file = cacheFile();
  const source = definitionsSourceVersion();
  try {
    const data = JSON.parse(fs.readFileSync(file, 'utf8')) as CompactDefinitions;
    if (data.source === source) cached = data;
  } catch {
    /* not built yet */
  }
  if (!cached) {
    cached = buildDefinitions();
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(cached));
      fs.renameSync(tmp, file);
    } catch {
      /* read-only install: rebuild in memory next time */
    }
  }
  return cached;
}
