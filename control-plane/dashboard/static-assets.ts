import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { refusalPage } from './responses.ts';

/** The files of the bundle, by URL; nothing else under the assets directory is served. */
const FILES: Record<string, { file: string; type: string }> = {
  '/assets/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/assets/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

/** Page paths the front-end routes itself; each gets the same shell. */
const PAGES = new Set(['/', '/sidecars', '/inventory', '/policies', '/revocations', '/ca', '/alerts', '/audit']);

const SHELL = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sigil dashboard</title><link rel="stylesheet" href="/assets/app.css"></head>
<body><div id="app"></div><script type="module" src="/assets/app.js"></script></body></html>
`;

/** The page shell and the bundled front-end, read from disk once and kept. */
export class StaticAssets {
  readonly #dir: string;
  readonly #cache = new Map<string, Buffer>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  async serve(path: string, res: ServerResponse): Promise<void> {
    if (PAGES.has(path)) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(SHELL);
      return;
    }
    const asset = FILES[path];
    if (!asset) {
      res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
      res.end(refusalPage('Not found', `There is no page ${path} on this dashboard.`, '-'));
      return;
    }
    let body = this.#cache.get(asset.file);
    if (!body) {
      try {
        body = await readFile(join(this.#dir, asset.file));
      } catch {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`the dashboard's front-end is not built in ${this.#dir}: run npm run build\n`);
        return;
      }
      this.#cache.set(asset.file, body);
    }
    res.writeHead(200, { 'content-type': asset.type });
    res.end(body);
  }
}
