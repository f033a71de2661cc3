import pg from 'pg';
const orig = pg.Client.prototype.query;
const stats = new Map<string, { n: number; ms: number }>();
(pg.Client.prototype as any).query = function (this: unknown, ...args: any[]) {
  const text = typeof args[0] === 'string' ? args[0] : (args[0]?.text ?? '?');
  const key = String(text).replace(/\s+/g, ' ').slice(0, 70);
  const t0 = performance.now();
  const r = (orig as any).apply(this, args);
  if (r && typeof r.then === 'function')
    r.then(
      () => {
        const s = stats.get(key) ?? { n: 0, ms: 0 };
        s.n++;
        s.ms += performance.now() - t0;
        stats.set(key, s);
      },
      () => {},
    );
  return r;
};
(globalThis as any).__stats = stats;
process.on('exit', () => {
  for (const [k, v] of [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25))
    console.log(v.n, v.ms.toFixed(0), k);
});
