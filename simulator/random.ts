/** Seeded randomness: the same seed gives the same traffic, record for record. */
export type Rng = () => number;

/** mulberry32: tiny, fast, good enough for traffic shapes. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

export function weighted<T extends { weight: number }>(r: Rng, xs: readonly T[]): T {
  let x = r() * xs.reduce((a, b) => a + b.weight, 0);
  for (const e of xs) if ((x -= e.weight) < 0) return e;
  return xs[xs.length - 1]!;
}

export const hex = (r: Rng, n: number) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');
