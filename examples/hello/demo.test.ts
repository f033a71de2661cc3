import t from 'tap';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The README's quick start runs `npm run demo`: it must finish and every step must say what the README promises.
t.test('npm run demo runs every step to the end', { timeout: 120_000 }, async (t) => {
  const demo = join(dirname(fileURLToPath(import.meta.url)), 'demo.ts');
  const child = spawn(process.execPath, [demo], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    out += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    err += c;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.equal(code, 0, `exit code 0${code === 0 ? '' : `; stderr: ${err}`}`);
  t.match(out, /\[5\] web calls api[\s\S]*HTTP 200/, 'the allowed call succeeds');
  t.match(
    out,
    /\[6\] SPIFFE Workload API[\s\S]*with the JWT-SVID: HTTP 200[^\n]*ns\/demo\/sa\/web[\s\S]*forged signature: HTTP 401/,
    'the JWT-SVID call is validated by the receiving sidecar',
  );
  t.match(out, /\[7\][\s\S]*refused/, 'a client without a certificate is refused');
  t.match(
    out,
    /call from batch: refused[\s\S]*call from batch, no restart anywhere: HTTP 200/,
    'denied, then allowed by a new policy',
  );
  t.match(
    out,
    /the call loop made [1-9]\d* calls through the rotation, 0 failed/,
    'a CA rotation under calls, none failed',
  );
  t.match(out, /api +serial (\w+) -> (?!\1)\w+/, 'serials change in the rotation');
  t.match(
    out,
    /closed the open connection[\s\S]*the next call: HTTP 502/,
    'revocation closes the open connection and refuses the next',
  );
  t.match(out, /demo finished: every step behaved as expected/);
});
