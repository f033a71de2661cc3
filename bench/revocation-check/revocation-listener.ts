// Child entry: the sidecar's InboundListener (TLS 1.3 mTLS, SVID profile check, authorizePeer, proxy to the app)
// whose authorizePeer is exactly the sidecar's revocation check, RevocationState.authorize, against a state seeded
// with `revokedSerials` random serials (none of them the load client's). Nothing else differs between targets.
// On SIGTERM it writes how many checks ran and what they answered to `statsPath`, so the parent can show the check
// ran once per connection. Usage (by revocation-target.ts only):
//   node revocation-listener.ts <chain.pem> <key.pem> <bundle.pem> <appPort> <revokedSerials> <statsPath> [policies]
// With `policies` > 0, authorizePeer is the sidecar's whole inbound chain: revocation, then a PolicyEnforcer holding
// that many policies (mixed exact and patterns) plus the one that allows the load client.
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { systemClock } from '../../common/clock.ts';
import { silentLogger } from '../../common/logger.ts';
import { toWirePolicySet } from '../../common/policy/index.ts';
import {
  CredentialSource,
  InboundListener,
  PolicyEnforcer,
  RevocationState,
  resolveTlsSettings,
  svidPeerVerifier,
} from '../../sidecar/index.ts';
import { BENCH_TRUST_DOMAIN, CLIENT_ID, SERVER_ID } from '../handshake/bench-pki.ts';
import { buildPolicies } from '../lib/policy-set.ts';
import { childEntry } from '../handshake/node-child.ts';
import type { TargetReady } from '../handshake/protocol.ts';
import { randomSerials } from './random-serials.ts';

childEntry('revocation listener', async () => {
  const [chainPath, keyPath, bundlePath, appPort, count, statsPath, policyCount = '0'] = process.argv.slice(2) as [
    string,
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  const certChainPem = readFileSync(chainPath, 'utf8');
  const leaf = new X509Certificate(certChainPem);
  const logger = silentLogger();
  const credentials = new CredentialSource({ clientTls: resolveTlsSettings(), logger });
  credentials.update({
    certChainPem,
    keyPem: readFileSync(keyPath, 'utf8'),
    bundlePem: readFileSync(bundlePath, 'utf8'),
    spiffeId: SERVER_ID,
    serial: leaf.serialNumber,
    notAfter: Date.parse(leaf.validTo),
  });
  const revocation = new RevocationState(
    { maxStalenessMs: 3_600_000, failOpen: false },
    { clock: systemClock, logger },
  );
  revocation.replace({ crlNumber: 1, revokedSerials: randomSerials(Number(count)), revokedSpiffeIds: [] });
  const stats = { revokedSerials: revocation.set.size.serials, checks: 0, refused: 0 };
  const policies =
    Number(policyCount) > 0
      ? new PolicyEnforcer({ ownId: SERVER_ID, trustDomain: BENCH_TRUST_DOMAIN }, { clock: systemClock, logger })
      : undefined;
  policies?.replace(
    toWirePolicySet({
      version: 1,
      defaultAction: 'deny',
      policies: [
        ...buildPolicies(Number(policyCount)),
        { name: 'bench-client', destination: SERVER_ID, mode: 'enforce', allow: [{ from: CLIENT_ID }] },
      ],
    }),
    'bench',
  );
  const listener = new InboundListener(
    {
      listen: { host: '127.0.0.1', port: 0 },
      forward: { host: '127.0.0.1', port: Number(appPort) },
      idleTimeoutMs: 30_000,
    },
    {
      credentials,
      verifyPeer: svidPeerVerifier(BENCH_TRUST_DOMAIN, 'client'),
      authorizePeer: (peer) => {
        stats.checks++;
        const revoked = revocation.authorize(peer.serial, peer.identity.spiffeId);
        const result = revoked.allowed && policies ? policies.authorize(peer) : revoked;
        if (!result.allowed) stats.refused++;
        return result;
      },
      logger,
    },
  );
  await listener.start();
  process.once('SIGTERM', () => {
    writeFileSync(statsPath, JSON.stringify(stats));
    process.exit(0);
  });
  process.send?.({ type: 'ready', host: '127.0.0.1', port: listener.address().port } satisfies TargetReady);
});
