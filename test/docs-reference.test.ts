import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// docs/performance.md is reference (how to run, the latest figures, the decisions, what was not
// kept, pitfalls), not a diary of runs: those stay in git history.
describe('docs/performance.md', () => {
  const text = readFileSync('docs/performance.md', 'utf8');

  it('stays under 500 lines', () => {
    expect(text.split('\n').length).toBeLessThan(500);
  });

  it('has no dated run sections', () => {
    const dated = text.split('\n').filter((l) => /^#+ .*\b20\d\d-\d\d-\d\d\b/.test(l) || /^#+ .*\b[Ss]ession \d/.test(l));
    expect(dated).toEqual([]);
  });

  it('keeps one table of the latest figures and the numbered decisions in order', () => {
    expect(text.match(/^## Latest figures$/gm)).toHaveLength(1);
    const numbers = [...text.matchAll(/^### (\d+)\. /gm)].map((m) => Number(m[1]));
    expect(numbers).toEqual(numbers.map((_, i) => i + 1));
    expect(numbers.length).toBeGreaterThanOrEqual(27);
  });
});
