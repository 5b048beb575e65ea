import * as fs from 'fs';
import * as path from 'path';

/** The folder holding package.json, found from this file both in src/ (ts-jest) and dist/src/ (compiled). */
export function projectRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}
