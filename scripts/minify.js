// Whitespace-minifies the compiled JavaScript a shim loads (dist/lib, dist/examples; tests and
// benchmarks stay as tsc wrote them). V8 keeps the source text of every loaded module for the
// life of the process: a shim daemon keeps ~0.58 MB of it, a third of which was indentation,
// spaces and line breaks (README, Memory per container). Names, statements and semantics are
// untouched (esbuild's minifyWhitespace only); each file's source map is rewritten to map the
// minified text to the TypeScript source (tsc's map chained through esbuild), so
// `--enable-source-maps` stack traces still name .ts lines. Output stays ASCII: a character
// beyond Latin-1 would make V8 keep the whole source at two bytes a character.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const MAP_COMMENT = /\n\/\/# sourceMappingURL=([^\n]+)\s*$/;

/** Every `.js` file under `dir`, recursively. */
function jsFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true })
    .filter((name) => name.endsWith('.js'))
    .map((name) => path.join(dir, name));
}

/**
 * Minifies one file in place. Its tsc source map (next to it, named by its trailing comment) is
 * handed to esbuild inline, which chains it: the map written back points at the .ts source.
 */
function minifyFile(esbuild, file) {
  let text = fs.readFileSync(file, 'utf8');
  const m = MAP_COMMENT.exec(text);
  const mapFile = m ? path.join(path.dirname(file), m[1]) : undefined;
  const hasMap = mapFile !== undefined && fs.existsSync(mapFile);
  if (m) text = text.slice(0, m.index + 1);
  if (hasMap) {
    const inline = fs.readFileSync(mapFile).toString('base64');
    text += `//# sourceMappingURL=data:application/json;base64,${inline}\n`;
  }
  const out = esbuild.transformSync(text, {
    loader: 'js',
    minifyWhitespace: true,
    charset: 'ascii',
    sourcefile: path.basename(file),
    sourcemap: hasMap ? 'external' : false,
    sourcesContent: false,
  });
  if (hasMap) {
    fs.writeFileSync(mapFile, out.map);
    fs.writeFileSync(file, `${out.code}//# sourceMappingURL=${path.basename(mapFile)}\n`);
  } else {
    fs.writeFileSync(file, out.code);
  }
}

/**
 * Minifies every `.js` under the given directories. Without esbuild installed (a node_modules
 * from before it was a devDependency) it says so and leaves the files as they are: the shim
 * works the same, only its daemons keep more source text.
 */
function minifyDirs(dirs) {
  let esbuild;
  try {
    esbuild = require('esbuild');
  } catch {
    console.warn('build: esbuild is not installed (npm ci): dist/ left unminified');
    return undefined;
  }
  let files = 0;
  for (const dir of dirs) {
    for (const file of jsFiles(dir)) {
      minifyFile(esbuild, file);
      files++;
    }
  }
  return files;
}

module.exports = { minifyDirs, minifyFile };
