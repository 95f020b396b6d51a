import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedDir } from '../../dashboards/generate.js';
import { renderGeneratedFiles } from '../../dashboards/render.js';
import { committedDashboards, queryPanels } from './dashboard-json.js';

function committedFiles(): Map<string, string> {
  return new Map(
    readdirSync(generatedDir, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile())
      .map((e) => {
        const path = join(e.parentPath, e.name);
        return [relative(generatedDir, path), readFileSync(path, 'utf8')] as const;
      }),
  );
}

describe('generated dashboards and provisioning', () => {
  it('the committed output is what `npm run dashboards` writes now (run it after changing dashboards/)', () => {
    const fresh = renderGeneratedFiles();
    const committed = committedFiles();
    expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
    for (const [path, content] of fresh) expect(committed.get(path), path).toBe(content);
  });

  it('rendering is deterministic', () => {
    expect([...renderGeneratedFiles()]).toEqual([...renderGeneratedFiles()]);
  });

  const boards = committedDashboards();
  const byUid = new Map(boards.map((b) => [b.uid, b]));

  it.each(boards.map((b) => [b.uid, b] as const))('%s: viewer time zone, unique panel ids, datasource variable', (_uid, board) => {
    expect(board.timezone).toBe('browser');
    const ids = board.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const names = board.templating.list.map((v) => v.name);
    expect(names[0]).toBe('datasource');
    for (const panel of queryPanels(board)) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets!) expect(target).toMatchObject({ editorType: 'sql', datasource: { uid: '${datasource}' } });
    }
  });

  it('shared filters are multi-value with All; searches are text boxes', () => {
    for (const board of boards) {
      for (const v of board.templating.list) {
        if (['institution', 'customer', 'endpoint', 'method', 'status_code', 'source'].includes(v.name)) {
          expect(v, `${board.uid}.${v.name}`).toMatchObject({ multi: true, includeAll: true });
        }
        if (['link_id', 'external_id', 'request_id', 'webhook_id'].includes(v.name)) expect(v.type).toBe('textbox');
      }
    }
  });

  it('every drill-down keeps the time range and the filters both dashboards share', () => {
    let links = 0;
    for (const board of boards) {
      const own = new Set(board.templating.list.map((v) => v.name));
      for (const panel of board.panels) {
        for (const override of panel.fieldConfig?.overrides ?? []) {
          for (const prop of override.properties.filter((p) => p.id === 'links')) {
            for (const { url } of prop.value as { url: string }[]) {
              links++;
              const [, targetUid, query] = /^\/d\/([\w-]+)\?(.*)$/.exec(url)!;
              const target = byUid.get(targetUid!);
              expect(target, url).toBeDefined();
              expect(query).toContain('${__url_time_range}');
              const targetVars = new Set(target!.templating.list.map((v) => v.name));
              const set = [...query!.matchAll(/var-(\w+)=/g)].map((m) => m[1]!);
              const carried = [...query!.matchAll(/\$\{(\w+):queryparam\}/g)].map((m) => m[1]!);
              for (const name of [...set, ...carried]) expect(targetVars.has(name), `${url} sets ${name}`).toBe(true);
              for (const name of carried) expect(own.has(name), `${board.uid} has ${name}`).toBe(true);
              const shared = [...own].filter((n) => targetVars.has(n) && board.templating.list.find((v) => v.name === n)!.type !== 'textbox');
              for (const name of shared.filter((n) => !set.includes(n))) expect(carried, `${url} carries ${name}`).toContain(name);
            }
          }
        }
      }
      expect(board.links).toEqual([expect.objectContaining({ includeVars: true, keepTime: true })]);
    }
    expect(links).toBeGreaterThan(5);
  });
});
