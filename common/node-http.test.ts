import { fileURLToPath } from 'node:url';
import t from 'tap';
import { run } from '../test/fixtures/processes.ts';

/** Runs `source` as an ES module in a fresh Node process; it prints whether Node's bundled undici got loaded. */
async function loadsUndici(source: string): Promise<boolean> {
  const probe = `${source}\nconsole.log(process.moduleLoadList.some((m) => m.includes('undici')) ? 'undici' : 'none');`;
  const result = await run(process.execPath, ['--input-type=module', '-e', probe]);
  t.equal(result.code, 0, result.stderr);
  return result.stdout.trim() === 'undici';
}

t.test('node:http without undici', async (t) => {
  t.test('an ES import of node:http loads undici (the reason for node-http.ts)', async (t) => {
    t.equal(await loadsUndici("import 'node:http';"), true, 'if this fails, Node fixed it: node-http.ts can go');
  });

  t.test('the operations listener every Sigil process serves takes node:http without it', async (t) => {
    const listener = fileURLToPath(new URL('./http-listener.ts', import.meta.url));
    t.equal(await loadsUndici(`await import(${JSON.stringify(listener)});`), false);
  });
});
