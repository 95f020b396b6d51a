import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderGeneratedFiles } from './render.js';

/** `npm run dashboards`: writes dashboards/generated/ and removes files no longer generated. */
export const generatedDir = join(dirname(fileURLToPath(import.meta.url)), 'generated');

function listFiles(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile())
      .map((e) => relative(dir, join(e.parentPath, e.name)));
  } catch {
    return [];
  }
}

function main() {
  const files = renderGeneratedFiles();
  for (const stale of listFiles(generatedDir).filter((f) => !files.has(f))) rmSync(join(generatedDir, stale));
  for (const [path, content] of files) {
    mkdirSync(dirname(join(generatedDir, path)), { recursive: true });
    writeFileSync(join(generatedDir, path), content);
  }
  console.log(`wrote ${files.size} files to ${relative(process.cwd(), generatedDir) || '.'}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
