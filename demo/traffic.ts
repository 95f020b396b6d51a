/**
 * The demo's traffic is the scenario simulator's (simulator/): this module keeps the names the
 * demo and older imports use.
 */
import { TrafficGenerator } from '../simulator/traffic.js';

export { rng } from '../simulator/random.js';
export type { TrafficBatch } from '../simulator/traffic.js';

/** The simulator's normal traffic: DemoTraffic(seed, links, now). */
export class DemoTraffic extends TrafficGenerator {
  constructor(seed = 42, linkCount = 120, now = Date.now()) {
    super({ seed, links: linkCount, now });
  }
}
