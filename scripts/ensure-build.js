// `npm start` runs this first: builds dist/ when it is missing or older than the sources,
// so `npm install && npm start` works on a fresh clone.
const fs = require('fs');
const path = require('path');
const { execSync } = require('child_process');

const root = path.join(__dirname, '..');
const main = path.join(root, 'dist/src/main.js');

function newest(dir) {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

const sources = Math.max(...['src', 'migrations', 'scripts'].map((d) => newest(path.join(root, d))));
if (!fs.existsSync(main) || fs.statSync(main).mtimeMs < sources) {
  process.stdout.write('building dist/ ...\n');
  execSync('npm run build', { cwd: root, stdio: 'inherit' });
}
