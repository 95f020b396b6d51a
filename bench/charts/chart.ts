import type { TopLevelSpec } from 'vega-lite';

/** One chart of a bench report: `<name>.svg` in the charts directory. */
export interface Chart {
  name: string;
  spec: TopLevelSpec;
}

export const WIDTH = 640;
export const HEIGHT = 300;
/** targets and the lines that mark them */
export const TARGET_COLOR = '#d62728';
/** a reference line that is not a target (the sustained rate) */
export const REFERENCE_COLOR = '#555555';
