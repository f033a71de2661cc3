import t from 'tap';
import { ErrorCode } from '../../common/errors.ts';
import { sigil } from '../../proto/index.ts';
import { TRUST_PAGE_BYTES, trustPage } from './trust-pages.ts';

const serials = Array.from({ length: 100_000 }, (_, i) => i.toString(16).padStart(32, '7'));
const policies = Array.from({ length: 10_000 }, (_, i) => ({
  name: `p${i}`,
  destination: `spiffe://example.org/ns/prod/sa/d${i}`,
  mode: 'enforce',
  allow: [{ from: `spiffe://example.org/ns/prod/sa/s${i}`, ports: [8443] }],
}));
const full = (crlNumber: number, version: number): sigil.v1.ITrustState => ({
  trustDomain: 'example.org',
  roots: [new Uint8Array(600)],
  bundleSequence: 3,
  revocation: {
    crlNumber,
    revokedSerials: serials,
    revokedSpiffeIds: ['spiffe://example.org/x'],
    crl: new Uint8Array(10),
  },
  policies: { version, defaultAction: 'deny', policies },
});

t.test('pages stay under the budget and add up to the whole state', async (t) => {
  const got = { serials: [] as string[], ids: [] as string[], policies: [] as string[] };
  let token = '';
  let pages = 0;
  do {
    const page = trustPage(full(7, 9), token);
    pages++;
    t.ok(sigil.v1.TrustState.encode(page).finish().length <= TRUST_PAGE_BYTES + 4096, `page ${pages} fits`);
    got.serials.push(...(page.revocation?.revokedSerials ?? []));
    got.ids.push(...(page.revocation?.revokedSpiffeIds ?? []));
    got.policies.push(...(page.policies?.policies ?? []).map((p) => p.name ?? ''));
    token = page.nextPageToken ?? '';
  } while (token !== '' && pages < 1000);
  t.same(got.serials, serials);
  t.same(got.ids, ['spiffe://example.org/x']);
  t.same(
    got.policies,
    policies.map((p) => p.name),
  );
  t.ok(pages > 5 && pages < 40, `${pages} pages`);
});

t.test('a state that moved on between pages, or a foreign token, is refused', async (t) => {
  const token = trustPage(full(7, 9), '').nextPageToken ?? '';
  t.throws(() => trustPage(full(8, 9), token), { code: ErrorCode.TRUST_STATE_CHANGED });
  t.throws(() => trustPage(full(7, 10), token), { code: ErrorCode.TRUST_STATE_CHANGED });
  t.throws(() => trustPage(full(7, 9), 'not-a-token'), { code: ErrorCode.INVALID_ARGUMENT });
});
