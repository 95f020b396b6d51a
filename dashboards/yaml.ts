/**
 * A minimal YAML writer for the provisioning files (plain objects, arrays, strings, numbers,
 * booleans). Strings are written double-quoted, which YAML reads as JSON strings: no ambiguity.
 */
type Yaml = string | number | boolean | Yaml[] | { [key: string]: Yaml };

function scalar(value: string | number | boolean): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function isScalar(value: Yaml): value is string | number | boolean {
  return typeof value !== 'object';
}

function lines(value: Yaml, indent: string): string[] {
  if (Array.isArray(value)) {
    return value.flatMap((item) => {
      if (isScalar(item)) return [`${indent}- ${scalar(item)}`];
      const [first = '', ...rest] = lines(item, `${indent}  `);
      return [`${indent}- ${first.trimStart()}`, ...rest];
    });
  }
  if (isScalar(value)) return [`${indent}${scalar(value)}`];
  return Object.entries(value).flatMap(([key, item]) =>
    isScalar(item) ? [`${indent}${key}: ${scalar(item)}`] : [`${indent}${key}:`, ...lines(item, `${indent}  `)],
  );
}

export function toYaml(value: { [key: string]: Yaml }, header?: string): string {
  const comment = header ? header.split('\n').map((l) => `# ${l}`) : [];
  return [...comment, ...lines(value, '')].join('\n') + '\n';
}
