/**
 * Writes index.js, the package entry for plain Node: it loads lib/index.ts through tsx's scoped loader and
 * re-exports every name of it. Run after changing lib/index.ts's exports: npm run entry.
 */
import { writeFileSync } from 'node:fs';

const names = Object.keys(await import('../lib/index.ts')).sort();
const lines: string[] = [];
let line = ' ';
for (const n of names) {
  if (line.length + n.length + 2 > 117) lines.push(line.trimEnd()), (line = ' ');
  line += ` ${n},`;
}
lines.push(line.trimEnd());
const src = `// The package entry for plain Node (\`import { estimateMI } from 'mimic-engine'\`): the library is written in
// TypeScript and runs from its sources, loaded here through tsx's scoped loader (only these imports go through it;
// the application's own module loading is untouched). Written by scripts/write-entry.ts (npm run entry) from
// lib/index.ts's exports; test/package-entry.test.ts checks that they agree. TypeScript users get declarations from
// types/ (npm run types; package.json "types").
import { tsImport } from 'tsx/esm/api';

const api = await tsImport('./lib/index.ts', import.meta.url);

export const {
${lines.join('\n')}
} = api;
`;
writeFileSync(new URL('../index.js', import.meta.url), src);
process.stdout.write(`index.js: ${names.length} names\n`);
