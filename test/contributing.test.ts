import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * CONTRIBUTING.md says which files each kind of change touches and which test guards it: it must
 * stay true. Every path it names must exist in the repository: a backquoted span with a '/' or a
 * file extension (placeholders such as <name> aside), and every a/b word of its text pictures.
 */
const text = readFileSync('CONTRIBUTING.md', 'utf8');
const FENCE = /^```[^\n]*\n([\s\S]*?)^```$/gm;
const pictures = [...text.matchAll(FENCE)].map((m) => m[1]!);
const prose = text.replace(FENCE, '');
const PATH = /^(?:[\w.-]+\/)*[\w.-]+(?:\/|\.(?:ts|md|sql|json|ya?ml))$/;
const inProse = [...prose.matchAll(/`([^`\s<>]+)`/g)].map((m) => m[1]!).filter((s) => PATH.test(s));
const inPictures = pictures.flatMap((p) => [...p.matchAll(/[\w-]+\/(?:[\w.-]*[\w/])?/g)].map((m) => m[0]));
const named = [...new Set([...inProse, ...inPictures])];

describe('CONTRIBUTING.md', () => {
  it('names files (the parse finds them, in the prose and in the picture)', () => {
    expect(inProse.length).toBeGreaterThan(30);
    expect(inPictures).toContain('workers/batch-writer.ts');
    expect(named).toContain('schema/records.ts');
  });

  it.each(named)('names %s, which exists', (path) => {
    expect(existsSync(path), `CONTRIBUTING.md names ${path}, which does not exist: fix the guide`).toBe(true);
  });

  it('says how to add a record kind, a dashboard panel, a rollup and a pipeline stage', () => {
    for (const what of ['a record kind', 'a dashboard panel', 'a rollup', 'a pipeline stage']) expect(text).toContain(`## How to add ${what}`);
  });
});
