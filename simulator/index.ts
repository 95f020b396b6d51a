export { runScenario, streamLive, type ScenarioRun } from './run.js';
export { planScenario, generateScenario, scenarioNames, incidentTargets, type ScenarioName, type ScenarioOptions, type ScenarioPlan, type Incident } from './scenarios.js';
export { TrafficGenerator, MAX_WEBHOOK_ATTEMPTS, type TrafficBatch, type Conditions, type SimLink } from './traffic.js';
export { rng } from './random.js';
