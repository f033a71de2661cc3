import t from 'tap';
import { silentLogger } from '../../common/logger.ts';
import { authorizeThen } from './authorize-then.ts';
import type { AuthorizationResult, AuthorizePeer, PeerInfo } from './peer-info.ts';

const peer: PeerInfo = Object.freeze({
  direction: 'inbound',
  identity: { spiffeId: 'spiffe://example.org/ns/a/sa/caller' },
  serial: '01',
  fingerprint256: 'AA',
  remoteAddress: '127.0.0.1',
  remotePort: 40000,
  localPort: 8443,
});

async function decide(authorize: AuthorizePeer): Promise<{ sameTick: boolean; decision: AuthorizationResult }> {
  let decided: AuthorizationResult | undefined;
  const settled = new Promise<AuthorizationResult>((resolve) =>
    authorizeThen(authorize, peer, silentLogger(), (d) => {
      decided = d;
      resolve(d);
    }),
  );
  const sameTick = decided !== undefined;
  return { sameTick, decision: await settled };
}

t.test('a decision from memory is applied in the same tick; a promised one once it settles', async (t) => {
  const sync = await decide(() => ({ allowed: true }));
  t.same(sync, { sameTick: true, decision: { allowed: true } });
  const later = await decide(async () => ({ allowed: false, reason: 'revoked' }));
  t.same(later, { sameTick: false, decision: { allowed: false, reason: 'revoked' } });
});

t.test('an authorizer that throws or rejects refuses the connection', async (t) => {
  const threw = await decide(() => {
    throw new Error('boom');
  });
  t.same(threw.decision, { allowed: false, reason: 'authorizer_failed' });
  const rejected = await decide(() => Promise.reject(new Error('boom')));
  t.same(rejected.decision, { allowed: false, reason: 'authorizer_failed' });
});
