import { describe, expect, it } from 'vitest';
import { scheduledAt } from '../../alerting/runtime.js';

/** An evaluation belongs to the tick its job was scheduled for, even when it runs late. */
describe('scheduledAt', () => {
  it("reads the due time from a job scheduler's job id", () => {
    expect(scheduledAt('repeat:evaluate-error-rate:1795725316000', 1795725319000)).toBe(1795725316000);
  });
  it('falls back to now for an id without a time', () => {
    expect(scheduledAt(undefined, 42)).toBe(42);
    expect(scheduledAt('manual', 42)).toBe(42);
  });
});
