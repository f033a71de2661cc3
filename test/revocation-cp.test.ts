import t, { type Test } from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeCsr } from '../common/csr-builder.ts';
import { ErrorCode } from '../common/errors.ts';
import { generateKeyPair, privateKeyPemOf } from '../common/key-pair.ts';
import { derToPem } from '../common/trust-bundle.ts';
import { parseX509Facts } from '../common/x509-facts.ts';
import { GrpcIdentityApi } from '../sidecar/index.ts';
import { startControlPlane, type RunningControlPlane } from './fixtures/control-plane-fixture.ts';
import { run, runSigil } from './fixtures/processes.ts';

// Issue 5, control-plane side, through the real gRPC API, the CLI and the HTTP /crl endpoint, checked by openssl.
const TD = 'example.org';
const API = `spiffe://${TD}/ns/prod/sa/api`;
const WEB = `spiffe://${TD}/ns/prod/sa/web`;

async function setup(t: Test) {
  const cp = await startControlPlane({ trustDomain: TD });
  t.teardown(() => cp.stop());
  const identity = new GrpcIdentityApi({ address: cp.grpcAddress, bundlePem: () => cp.bundlePem, trustDomain: TD });
  /** A fresh SVID for `spiffeId`: its TLS material (for Renew) and PEM file. */
  const attested = async (spiffeId: string) => {
    const keys = await generateKeyPair('ec-p256');
    const issued = await identity.attest(await cp.createToken(spiffeId), await makeCsr({ spiffeId, keys }));
    const leaf = parseX509Facts(issued.chain[0]!);
    const pemPath = join(cp.dataDir, `svid-${leaf.serial}.pem`);
    await writeFile(pemPath, derToPem(issued.chain[0]!));
    return {
      serial: leaf.serial,
      pemPath,
      material: {
        certChainPem: issued.chain.map(derToPem).join(''),
        keyPem: privateKeyPemOf(keys.privateKey),
        bundlePem: cp.bundlePem,
        spiffeId,
        serial: leaf.serial,
        notAfter: leaf.notAfter,
      },
    };
  };
  const cli = (args: string[]) => runSigil([...args, '--data-dir', cp.dataDir]);
  const freshCsr = async (spiffeId: string) => makeCsr({ spiffeId, keys: await generateKeyPair('ec-p256') });
  return { cp, identity, attested, cli, freshCsr };
}

async function fetchCrl(cp: RunningControlPlane): Promise<{ contentType: string | null; der: Uint8Array }> {
  const res = await fetch(`http://${cp.httpAddress}/crl`);
  return { contentType: res.headers.get('content-type'), der: new Uint8Array(await res.arrayBuffer()) };
}

t.test(
  'revoking a serial: the CRL over HTTP verifies with openssl, lists it with its reason, and openssl verify refuses the SVID',
  async (t) => {
    const { cp, identity, attested, cli, freshCsr } = await setup(t);
    const revoked = await attested(API);
    const kept = await attested(API);

    const out = await cli(['revoke', '--serial', revoked.serial, '--reason', 'keyCompromise', '--json']);
    t.equal(out.code, 0, `sigil revoke succeeds: ${out.stderr}`);
    const result = JSON.parse(out.stdout) as { revokedSerials: string[]; crlNumber: number };
    t.same(result.revokedSerials, [revoked.serial]);
    t.ok(result.crlNumber >= 2, 'a new CRL number');

    const crl = await fetchCrl(cp);
    t.equal(crl.contentType, 'application/pkix-crl');
    const crlDer = join(cp.dataDir, 'crl.der');
    const crlPem = join(cp.dataDir, 'crl.pem');
    const chain = join(cp.dataDir, 'chain.pem');
    await writeFile(crlDer, crl.der);
    const intermediate = join(cp.dataDir, 'intermediate.pem');
    await writeFile(chain, (await readFile(intermediate, 'utf8')) + cp.bundlePem);
    const text = await run('openssl', ['crl', '-inform', 'DER', '-in', crlDer, '-CAfile', chain, '-noout', '-text']);
    t.equal(text.code, 0, 'openssl crl succeeds');
    t.match(text.stderr, /verify OK/, 'the CRL signature verifies against intermediate + root');
    t.match(
      text.stdout,
      new RegExp(`X509v3 CRL Number:\\s*\\n\\s+${result.crlNumber}\\n`),
      'carries the CRL number the CLI reported',
    );
    t.match(
      text.stdout,
      new RegExp(
        `Serial Number: ${revoked.serial.toUpperCase()}\\n\\s+Revocation Date: .*\\n\\s+CRL entry extensions:\\s*\\n\\s+X509v3 CRL Reason Code:\\s*\\n\\s+Key Compromise`,
      ),
      'lists the serial with its reason',
    );
    t.notMatch(text.stdout, kept.serial.toUpperCase(), 'not the other certificate');

    await run('openssl', ['crl', '-inform', 'DER', '-in', crlDer, '-out', crlPem]);
    const root = join(cp.dataDir, 'bundle.pem');
    const verify = (svid: string) =>
      run('openssl', ['verify', '-crl_check', '-CRLfile', crlPem, '-CAfile', root, '-untrusted', intermediate, svid]);
    const refused = await verify(revoked.pemPath);
    t.not(refused.code, 0, 'openssl verify -crl_check fails for the revoked SVID');
    t.match(refused.stdout + refused.stderr, /certificate revoked/);
    const accepted = await verify(kept.pemPath);
    t.equal(accepted.code, 0, `and accepts the other: ${accepted.stderr}`);

    const trust = await identity.fetchTrust(kept.material);
    t.equal(trust.revocation.crlNumber, result.crlNumber, 'FetchTrust serves the same CRL number');
    t.ok(trust.revocation.revokedSerials.includes(revoked.serial), 'and the serial');

    await t.rejects(
      identity.renew(revoked.material, await freshCsr(API)),
      { code: ErrorCode.REVOKED },
      'Renew by the revoked certificate is refused',
    );
    const renewed = await identity.renew(kept.material, await freshCsr(API));
    t.equal(
      parseX509Facts(renewed.chain[0]!).uriSans[0],
      API,
      'the other certificate of the same identity still renews',
    );

    const again = await cli(['revoke', '--serial', revoked.serial, '--reason', 'keyCompromise', '--json']);
    t.same(JSON.parse(again.stdout), result, 'revoking again returns the same result');
  },
);

t.test('revoking an identity refuses its Attest and Renew until unrevoked; others are unaffected', async (t) => {
  const { cp, identity, attested, cli, freshCsr } = await setup(t);
  const web = await attested(WEB);
  const api = await attested(API);

  const out = await cli(['revoke', '--spiffe-id', WEB, '--reason', 'affiliationChanged']);
  t.equal(out.code, 0, out.stderr);
  t.match(
    out.stdout,
    new RegExp(`revoked identity ${WEB} \\(1 live certificate\\(s\\).*CRL number \\d+\\n\\s+${web.serial}\\n`),
  );

  const trust = await identity.fetchTrust(api.material);
  t.same(trust.revocation.revokedSpiffeIds, [WEB]);
  t.ok(trust.revocation.revokedSerials.includes(web.serial));

  const token = await cp.createToken(WEB);
  const csr = await freshCsr(WEB);
  const attest = () => identity.attest(token, csr);
  await t.rejects(
    attest(),
    { code: ErrorCode.REVOKED, message: /identity spiffe:\/\/example\.org\/ns\/prod\/sa\/web is revoked/ },
    'Attest refused',
  );
  await t.rejects(identity.renew(web.material, await freshCsr(WEB)), { code: ErrorCode.REVOKED }, 'Renew refused');
  await identity.renew(api.material, await freshCsr(API));
  t.pass('another identity still renews');

  const unrevoke = await cli(['unrevoke', '--spiffe-id', WEB, '--json']);
  t.equal(unrevoke.code, 0, unrevoke.stderr);
  t.ok((JSON.parse(unrevoke.stdout) as { crlNumber: number }).crlNumber > 0);
  const issued = await attest();
  t.equal(
    parseX509Facts(issued.chain[0]!).uriSans[0],
    WEB,
    'Attest works again with the token the refusal left unused',
  );
  t.same((await identity.fetchTrust(api.material)).revocation.revokedSpiffeIds, []);
  await t.rejects(
    identity.renew(web.material, await freshCsr(WEB)),
    { code: ErrorCode.REVOKED },
    'the old certificate stays revoked',
  );
});

t.test('bad input through the CLI: coded, clear, nothing changed', async (t) => {
  const { cp, attested, cli } = await setup(t);
  const api = await attested(API);
  const before = await cp.admin.listCertificates({});
  const crlBefore = (await fetchCrl(cp)).der;
  const cases: { name: string; args: string[]; code: number; stderr: RegExp }[] = [
    {
      name: 'unknown serial',
      args: ['revoke', '--serial', 'abcdef01'],
      code: 1,
      stderr: /no certificate with serial abcdef01 in the inventory: see sigil certs list \[SIGIL_ERR_NOT_FOUND\]/,
    },
    {
      name: 'malformed serial',
      args: ['revoke', '--serial', 'nothex'],
      code: 1,
      stderr: /malformed serial "nothex".*\[SIGIL_ERR_INVALID_ARGUMENT\]/,
    },
    {
      name: 'unknown reason',
      args: ['revoke', '--serial', api.serial, '--reason', 'stolen'],
      code: 1,
      stderr: /unknown revocation reason "stolen": use one of unspecified, keyCompromise/,
    },
    {
      name: 'both serial and identity',
      args: ['revoke', '--serial', api.serial, '--spiffe-id', API],
      code: 1,
      stderr: /exactly one of --serial and --spiffe-id/,
    },
    { name: 'neither', args: ['revoke'], code: 1, stderr: /exactly one of --serial and --spiffe-id/ },
    {
      name: 'bad effective time',
      args: ['revoke', '--serial', api.serial, '--effective', 'yesterday'],
      code: 1,
      stderr: /--effective "yesterday" is not an ISO 8601 time/,
    },
    {
      name: 'control plane identity without --force',
      args: ['revoke', '--spiffe-id', `spiffe://${TD}/sigil/control-plane`],
      code: 1,
      stderr: /control plane's own identity.*--force.*\[SIGIL_ERR_REVOKE_PROTECTED\]/,
    },
    {
      name: 'admin identity without --force',
      args: ['revoke', '--spiffe-id', `spiffe://${TD}/sigil/admin/default`],
      code: 1,
      stderr: /admin identity.*\[SIGIL_ERR_REVOKE_PROTECTED\]/,
    },
    { name: 'unrevoke without --spiffe-id', args: ['unrevoke'], code: 2, stderr: /--spiffe-id/ },
  ];
  for (const c of cases) {
    const r = await cli(c.args);
    t.equal(r.code, c.code, `${c.name}: exit ${c.code}`);
    t.match(r.stderr, c.stderr, c.name);
  }
  t.same(await cp.admin.listCertificates({}), before, 'inventory unchanged');
  t.same((await fetchCrl(cp)).der, crlBefore, 'CRL unchanged');
});

t.test(
  'FetchTrust gives a caller without an SVID the bundle only, and an SVID holder everything (issue 21 item 12)',
  async (t) => {
    const { identity, attested, cli } = await setup(t);
    const revoked = await attested(WEB);
    const member = await attested(API);
    const out = await cli(['revoke', '--serial', revoked.serial, '--reason', 'keyCompromise']);
    t.equal(out.code, 0, out.stderr);

    const full = await identity.fetchTrust(member.material);
    t.equal(full.bundleOnly, false);
    t.ok(full.revocation.crlNumber > 0, 'an SVID holder gets the CRL number');
    t.ok(full.revocation.revokedSerials.includes(revoked.serial), 'and the revoked serials');
    t.ok(full.policies, 'and the policy set');

    const anonymous = await identity.fetchTrust();
    t.equal(anonymous.bundleOnly, true, 'a caller without a certificate gets the bundle only');
    t.same(anonymous.roots, full.roots, 'the same roots');
    t.equal(anonymous.bundleSequence, full.bundleSequence, 'the same bundle sequence');
    t.ok(anonymous.refreshHintSeconds > 0, 'and the refresh hint');
    t.equal(anonymous.revocation.crlNumber, 0, 'but no CRL number');
    t.same(anonymous.revocation.revokedSerials, [], 'no revoked serials');
    t.same(anonymous.revocation.revokedSpiffeIds, [], 'no revoked identities');
    t.equal(anonymous.policies, undefined, 'and no policies');
  },
);
