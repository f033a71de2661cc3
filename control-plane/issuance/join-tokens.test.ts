import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { FakeClock } from '../../common/clock.ts';
import { ErrorCode } from '../../common/errors.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { hashJoinToken, JoinTokens } from './join-tokens.ts';

const TD = 'example.org';
const API = `spiffe://${TD}/ns/prod/sa/api`;
const DEFAULT_TTL_MS = 15 * 60_000;
const DAY_MS = 86_400_000;

async function harness(t: Test, randomBytes?: (n: number) => Uint8Array) {
  const dir = await mkdtemp(join(tmpdir(), 'sigil-tokens-'));
  const dbPath = join(dir, 'sigil.db');
  const store = new SqliteStore({ path: dbPath });
  await store.open();
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const clock = new FakeClock();
  const tokens = new JoinTokens({
    store,
    clock,
    trustDomain: TD,
    defaultTtlMs: DEFAULT_TTL_MS,
    ...(randomBytes ? { randomBytes } : {}),
  });
  /** Every row of join_tokens, read through a second connection (the Store port has no listing of tokens). */
  const rows = () => {
    const db = new DatabaseSync(dbPath, { readOnly: true });
    try {
      return db.prepare('SELECT * FROM join_tokens ORDER BY created_at').all() as Record<string, unknown>[];
    } finally {
      db.close();
    }
  };
  /** Bytes of the database and its WAL, where a token would be if it were ever written. */
  const storedBytes = () => Buffer.concat([dbPath, `${dbPath}-wal`].filter(existsSync).map((p) => readFileSync(p)));
  return { store, clock, tokens, rows, storedBytes };
}

t.test('create', async (t) => {
  t.test('binds a single-use token to the ID with the default TTL and stores its hash', async (t) => {
    const h = await harness(t);
    const created = await h.tokens.create({ spiffeId: API });
    t.match(created.token, /^sigil-jt-[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url, with a recognisable prefix');
    t.same(
      { ...created, token: '' },
      {
        token: '',
        id: hashJoinToken(created.token).slice(0, 12),
        spiffeId: API,
        expiresAt: h.clock.now() + DEFAULT_TTL_MS,
        uses: 1,
        prefix: false,
      },
    );
    t.same(await h.store.getJoinToken(hashJoinToken(created.token)), {
      tokenHash: createHash('sha256').update(created.token).digest('hex'),
      spiffeId: API,
      createdAt: h.clock.now(),
      expiresAt: h.clock.now() + DEFAULT_TTL_MS,
      usesRemaining: 1,
    });
  });

  t.test('the token text is never stored, only its hash', async (t) => {
    const h = await harness(t);
    const created = [await h.tokens.create({ spiffeId: API }), await h.tokens.create({ spiffeId: API, uses: 5 })];
    const bytes = h.storedBytes();
    for (const { token } of created) {
      t.equal(bytes.indexOf(token), -1, 'token text absent from the database files');
      t.equal(bytes.indexOf(token.slice('sigil-jt-'.length)), -1, 'random part absent too');
      t.not(bytes.indexOf(hashJoinToken(token)), -1, 'its hash is there (the check above can find text)');
    }
    const columns = Object.keys(h.rows()[0] ?? {}).sort();
    t.same(
      columns,
      ['created_at', 'expires_at', 'match_prefix', 'revoked_at', 'spiffe_id', 'token_hash', 'uses_remaining'],
      'no column could hold the token',
    );
  });

  t.test('tokens come from the injected random source', async (t) => {
    const h = await harness(t, (n) => new Uint8Array(n).fill(0xab));
    const created = await h.tokens.create({ spiffeId: API });
    t.equal(created.token, `sigil-jt-${Buffer.alloc(32, 0xab).toString('base64url')}`);
  });

  t.test('TTL and uses: defaults and accepted bounds', async (t) => {
    const h = await harness(t);
    const cases: Array<[string, { ttlMs?: number; uses?: number }, { ttlMs: number; uses: number }]> = [
      ['defaults', {}, { ttlMs: DEFAULT_TTL_MS, uses: 1 }],
      ['zero means default', { ttlMs: 0, uses: 0 }, { ttlMs: DEFAULT_TTL_MS, uses: 1 }],
      ['1 s', { ttlMs: 1_000 }, { ttlMs: 1_000, uses: 1 }],
      ['30 d', { ttlMs: 30 * DAY_MS }, { ttlMs: 30 * DAY_MS, uses: 1 }],
      ['10000 uses', { uses: 10_000 }, { ttlMs: DEFAULT_TTL_MS, uses: 10_000 }],
    ];
    for (const [name, request, expected] of cases) {
      const created = await h.tokens.create({ spiffeId: API, ...request });
      t.same({ ttlMs: created.expiresAt - h.clock.now(), uses: created.uses }, expected, name);
      t.equal(
        (await h.store.getJoinToken(hashJoinToken(created.token)))?.usesRemaining,
        expected.uses,
        `${name}: stored uses`,
      );
    }
  });

  t.test('refusals name the problem and store nothing', async (t) => {
    const cases: Array<[string, { spiffeId: string; ttlMs?: number; uses?: number }, string, RegExp]> = [
      [
        'TTL over 30 d',
        { spiffeId: API, ttlMs: 30 * DAY_MS + 1 },
        ErrorCode.INVALID_ARGUMENT,
        /TTL must be between 1s and 30d/,
      ],
      ['negative TTL', { spiffeId: API, ttlMs: -1 }, ErrorCode.INVALID_ARGUMENT, /TTL must be between/],
      [
        '10001 uses',
        { spiffeId: API, uses: 10_001 },
        ErrorCode.INVALID_ARGUMENT,
        /uses must be a whole number between 1 and 10000/,
      ],
      ['fractional uses', { spiffeId: API, uses: 1.5 }, ErrorCode.INVALID_ARGUMENT, /whole number/],
      ['negative uses', { spiffeId: API, uses: -2 }, ErrorCode.INVALID_ARGUMENT, /whole number/],
      [
        'reserved: control plane',
        { spiffeId: `spiffe://${TD}/sigil/control-plane` },
        ErrorCode.INVALID_ARGUMENT,
        /reserved for Sigil's own components/,
      ],
      ['reserved: admin', { spiffeId: `spiffe://${TD}/sigil/admin/default` }, ErrorCode.INVALID_ARGUMENT, /reserved/],
      [
        'reserved: anything under /sigil/',
        { spiffeId: `spiffe://${TD}/sigil/x` },
        ErrorCode.INVALID_ARGUMENT,
        /reserved/,
      ],
      [
        'another trust domain',
        { spiffeId: 'spiffe://other.org/ns/prod/sa/api' },
        ErrorCode.SPIFFE_ID_TRUST_DOMAIN,
        /trust domain "other\.org"/,
      ],
      ['trust-domain ID, no path', { spiffeId: `spiffe://${TD}` }, ErrorCode.SPIFFE_ID_INVALID, /needs a path/],
      [
        'uppercase scheme',
        { spiffeId: 'SPIFFE://example.org/a' },
        ErrorCode.SPIFFE_ID_INVALID,
        /scheme must be lowercase/,
      ],
      [
        'uppercase trust domain',
        { spiffeId: 'spiffe://Example.org/a' },
        ErrorCode.SPIFFE_ID_INVALID,
        /lowercase letters/,
      ],
      ['port', { spiffeId: 'spiffe://example.org:8080/a' }, ErrorCode.SPIFFE_ID_INVALID, /port is not allowed/],
      [
        'dot-dot segment',
        { spiffeId: 'spiffe://example.org/a/../b' },
        ErrorCode.SPIFFE_ID_INVALID,
        /"\." and "\.\." path segments/,
      ],
      ['percent-encoding', { spiffeId: 'spiffe://example.org/%41' }, ErrorCode.SPIFFE_ID_INVALID, /percent-encoding/],
      ['trailing slash', { spiffeId: 'spiffe://example.org/a/' }, ErrorCode.SPIFFE_ID_INVALID, /trailing "\/"/],
    ];
    const h = await harness(t);
    for (const [name, request, code, message] of cases) {
      await t.rejects(h.tokens.create(request), { code, message }, name);
    }
    t.same(h.rows(), [], 'no token row was written');
  });

  t.test('a reserved-looking ID outside /sigil/ is a workload like any other', async (t) => {
    const h = await harness(t);
    const created = await h.tokens.create({ spiffeId: `spiffe://${TD}/sigilish/api` });
    t.equal(created.spiffeId, `spiffe://${TD}/sigilish/api`);
  });
});

t.test('hashJoinToken is the hex SHA-256 of the token text', async (t) => {
  t.equal(hashJoinToken('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});
