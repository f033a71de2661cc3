import t from 'tap';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { PeerIdentityCache } from './peer-identity-cache.ts';

const der = (text: string): Buffer => Buffer.from(text);

function counting(): { calls: string[]; verify: (d: Buffer) => { spiffeId: string } } {
  const calls: string[] = [];
  return {
    calls,
    verify: (d) => {
      const text = d.toString();
      calls.push(text);
      if (text.startsWith('bad')) throw new SigilError(ErrorCode.SVID_INVALID, 'bad');
      return { spiffeId: `spiffe://example.org/${text}` };
    },
  };
}

t.test('validates each certificate once', async (t) => {
  const v = counting();
  const cache = new PeerIdentityCache({ verifyPeer: v.verify });
  t.equal(cache.identify(der('a')).spiffeId, 'spiffe://example.org/a');
  t.equal(cache.identify(der('a')).spiffeId, 'spiffe://example.org/a');
  cache.identify(der('b'));
  t.same(v.calls, ['a', 'b']);
});

t.test('does not cache refusals', async (t) => {
  const v = counting();
  const cache = new PeerIdentityCache({ verifyPeer: v.verify });
  t.throws(() => cache.identify(der('bad')), { code: ErrorCode.SVID_INVALID });
  t.throws(() => cache.identify(der('bad')), { code: ErrorCode.SVID_INVALID });
  t.same(v.calls, ['bad', 'bad']);
  t.equal(cache.size, 0);
});

t.test('evicts the least recently used entry past maxEntries', async (t) => {
  const v = counting();
  const cache = new PeerIdentityCache({ verifyPeer: v.verify, maxEntries: 2 });
  cache.identify(der('a'));
  cache.identify(der('b'));
  cache.identify(der('a')); // a is now the most recent
  cache.identify(der('c')); // evicts b
  t.equal(cache.size, 2);
  cache.identify(der('a'));
  cache.identify(der('b'));
  t.same(v.calls, ['a', 'b', 'c', 'b']);
});

t.test('clear() forces revalidation', async (t) => {
  const v = counting();
  const cache = new PeerIdentityCache({ verifyPeer: v.verify });
  cache.identify(der('a'));
  cache.clear();
  cache.identify(der('a'));
  t.same(v.calls, ['a', 'a']);
});
