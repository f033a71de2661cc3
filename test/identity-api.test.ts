import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import t, { type Test } from 'tap';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { createPrivateKey, generateKeyPairSync, type webcrypto } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { formatHostPort } from '../common/address.ts';
import { FakeClock } from '../common/clock.ts';
import { checkControlPlaneCertificate, CONTROL_PLANE_CHANNEL_OPTIONS } from '../common/control-plane-identity.ts';
import { makeCsr } from '../common/csr-builder.ts';
import { ErrorCode, isSigilError } from '../common/errors.ts';
import { generateKeyPair, privateKeyPemOf } from '../common/key-pair.ts';
import { createLogger } from '../common/logger.ts';
import { derToPem } from '../common/trust-bundle.ts';
import { ERROR_CODE_METADATA_KEY, GrpcStatus } from '../common/wire-errors.ts';
import { parseX509Facts } from '../common/x509-facts.ts';
import { AdminApi, ControlPlane, initCa, resolveControlPlaneConfig } from '../control-plane/index.ts';
import { AdminClient, IdentityClient } from '../proto/index.ts';
import { GrpcIdentityApi } from '../sidecar/index.ts';
import { makeTestPki } from './fixtures/cert-factory.ts';

// Issue 2, "Bad input must get a coded, clear error and change nothing", through the real gRPC API: every refusal
// carries its code (sigil-error-code trailer), names the problem, leaves the inventory alone and, when it happened
// before the token was consumed, leaves the token usable.
const TD = 'example.org';
const API = `spiffe://${TD}/ns/prod/sa/api`;
const WEB = `spiffe://${TD}/ns/prod/sa/web`;
const PASSPHRASE = 'identity-api test passphrase';

type Keys = webcrypto.CryptoKeyPair;

/** A control plane in this process with a fake clock (token expiry without sleeping) and its log lines captured. */
async function startControlPlane(t: Test) {
  const dataDir = await mkdtemp(join(tmpdir(), 'sigil-identity-api-'));
  const clock = new FakeClock(Date.now());
  await initCa({ dataDir, trustDomain: TD, keyType: 'ec-p256', passphrase: PASSPHRASE, now: clock.now() });
  const config = resolveControlPlaneConfig({
    env: { SIGIL_LISTEN_GRPC: '127.0.0.1:0', SIGIL_LISTEN_HTTP: '127.0.0.1:0' },
    flags: { dataDir },
    cwd: dataDir,
  });
  const logs: string[] = [];
  const logger = createLogger({
    component: 'control-plane',
    level: 'debug',
    destination: { write: (line: string) => void logs.push(line) },
  });
  const controlPlane = new ControlPlane({ config, passphrase: PASSPHRASE }, { clock, logger });
  const address = formatHostPort((await controlPlane.start()).grpc);
  const admin = new AdminApi({ address, credentialsDir: join(dataDir, 'admin') });
  t.teardown(async () => {
    admin.close();
    await controlPlane.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  const bundlePem = await readFile(join(dataDir, 'bundle.pem'), 'utf8');
  return {
    dataDir,
    clock,
    logs,
    address,
    admin,
    bundlePem,
    identity: new GrpcIdentityApi({ address, bundlePem: () => bundlePem, trustDomain: TD }),
  };
}

/** A CSR built without makeCsr's guard rails: what a broken or hostile client could send. */
async function rawCsr(
  keys: Keys,
  names: { type: 'url' | 'dns'; value: string }[],
  signingAlgorithm: object = { name: 'ECDSA', hash: 'SHA-256' },
): Promise<Uint8Array> {
  const request = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      keys,
      signingAlgorithm: signingAlgorithm as { name: string },
      ...(names.length > 0 ? { extensions: [new x509.SubjectAlternativeNameExtension(names)] } : {}),
    },
    globalThis.crypto,
  );
  return new Uint8Array(request.rawData);
}

/** Key types WebCrypto will not generate (RSA-1024) or Sigil does not accept (P-521), as CryptoKeys. */
function nodeKeys(kind: 'rsa-1024' | 'ec-p521'): Keys {
  const pair =
    kind === 'rsa-1024'
      ? generateKeyPairSync('rsa', { modulusLength: 1024 })
      : generateKeyPairSync('ec', { namedCurve: 'P-521' });
  const algorithm =
    kind === 'rsa-1024' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: 'P-521' };
  return {
    publicKey: pair.publicKey.toCryptoKey(algorithm, true, ['verify']),
    privateKey: pair.privateKey.toCryptoKey(algorithm, true, ['sign']),
  };
}

const uriCsr = async (spiffeId: string, keys?: Keys) =>
  rawCsr(keys ?? (await generateKeyPair('ec-p256')), [{ type: 'url', value: spiffeId }]);

/** What a raw client sees of a failed call: gRPC status, the Sigil code trailer, the details. */
interface Wire {
  readonly status: number | undefined;
  readonly code: unknown;
  readonly details: string;
}

function wireFailure(invoke: (cb: (err: ServiceError | null) => void) => unknown): Promise<Wire> {
  return new Promise((resolve, reject) => {
    invoke((err) => {
      if (!err) reject(new Error('the call succeeded'));
      else resolve({ status: err.code, code: err.metadata?.get(ERROR_CODE_METADATA_KEY)[0], details: err.details });
    });
  });
}

const serverCheck = {
  checkServerIdentity: (_host: string, cert: { raw?: Buffer }) => checkControlPlaneCertificate(cert.raw, TD),
};

t.test('Identity and Admin APIs refuse bad input with a code, a reason, and no change', async (t) => {
  const cp = await startControlPlane(t);
  const tokensUsed: string[] = [];
  const messages: string[] = [];
  const deadline = () => ({ deadline: Date.now() + 10_000 });

  const inventory = async () =>
    (await cp.admin.listCertificates({})).certificates.map((c) => `${c.serial} ${c.kind} ${c.status}`).sort();
  const tokenRows = () => {
    const db = new DatabaseSync(join(cp.dataDir, 'sigil.db'), { readOnly: true });
    try {
      return db.prepare('SELECT token_hash, uses_remaining FROM join_tokens ORDER BY token_hash').all();
    } finally {
      db.close();
    }
  };
  const token = async (spiffeId: string, options: { ttlSeconds?: number; uses?: number } = {}) => {
    const created = await cp.admin.createJoinToken({
      spiffeId,
      ttlSeconds: options.ttlSeconds ?? 0,
      uses: options.uses ?? 0,
    });
    tokensUsed.push(created.token);
    return created.token;
  };
  /** Runs a call that must be refused; checks code, message, unchanged inventory and token table. */
  const refused = async (t: Test, name: string, call: () => Promise<unknown>, code: string, message: RegExp) => {
    const before = { inventory: await inventory(), tokens: tokenRows() };
    const err = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(isSigilError(err), `${name}: a SigilError`);
    t.match(err, { code, message }, name);
    messages.push(String((err as Error | undefined)?.message));
    t.same({ inventory: await inventory(), tokens: tokenRows() }, before, `${name}: inventory and tokens unchanged`);
  };
  const stillUsable = async (t: Test, name: string, joinToken: string, spiffeId: string) => {
    const issued = await cp.identity.attest(
      joinToken,
      await makeCsr({ spiffeId, keys: await generateKeyPair('ec-p256') }),
    );
    t.equal(parseX509Facts(issued.chain[0]!).uriSans[0], spiffeId, `${name}: the token still works afterwards`);
  };
  /** A fresh SVID for `spiffeId` as TLS material for Renew. */
  const attested = async (spiffeId: string) => {
    const keys = await generateKeyPair('ec-p256');
    const issued = await cp.identity.attest(await token(spiffeId), await makeCsr({ spiffeId, keys }));
    const leaf = parseX509Facts(issued.chain[0]!);
    const material = {
      certChainPem: issued.chain.map(derToPem).join(''),
      keyPem: privateKeyPemOf(keys.privateKey),
      bundlePem: cp.bundlePem,
      spiffeId,
      serial: leaf.serial,
      notAfter: leaf.notAfter,
    };
    return { keys, material };
  };

  t.test('Attest: bad CSRs are refused before the token is consumed', async (t) => {
    const p256 = await generateKeyPair('ec-p256');
    const good = await makeCsr({ spiffeId: API, keys: p256 });
    const badSignature = Uint8Array.from(good);
    badSignature[badSignature.length - 1] = badSignature[badSignature.length - 1]! ^ 0x01;
    const ed25519 = (await globalThis.crypto.subtle.generateKey({ name: 'Ed25519' }, true, [
      'sign',
      'verify',
    ])) as unknown as Keys;
    const cases: Array<[string, () => Promise<Uint8Array>, string, RegExp]> = [
      ['bad signature', async () => badSignature, ErrorCode.CSR_SIGNATURE, /signature does not verify/],
      ['zero URI SANs', () => rawCsr(p256, []), ErrorCode.CSR_URI_SAN_COUNT, /exactly one URI SAN .* but 0 were found/],
      [
        'a DNS SAN and no URI SAN',
        () => rawCsr(p256, [{ type: 'dns', value: 'api.example.org' }]),
        ErrorCode.CSR_URI_SAN_COUNT,
        /but 0 were found/,
      ],
      [
        'two URI SANs',
        () =>
          rawCsr(p256, [
            { type: 'url', value: API },
            { type: 'url', value: WEB },
          ]),
        ErrorCode.CSR_URI_SAN_COUNT,
        /but 2 were found/,
      ],
      [
        'uppercase scheme',
        () => uriCsr('SPIFFE://example.org/a'),
        ErrorCode.SPIFFE_ID_INVALID,
        /"SPIFFE:\/\/example\.org\/a".*scheme must be lowercase/,
      ],
      [
        'uppercase trust domain',
        () => uriCsr('spiffe://Example.org/a'),
        ErrorCode.SPIFFE_ID_INVALID,
        /"spiffe:\/\/Example\.org\/a".*lowercase letters/,
      ],
      ['port', () => uriCsr('spiffe://example.org:8080/a'), ErrorCode.SPIFFE_ID_INVALID, /port is not allowed/],
      [
        'dot-dot segment',
        () => uriCsr('spiffe://example.org/a/../b'),
        ErrorCode.SPIFFE_ID_INVALID,
        /"\." and "\.\." path segments are not allowed/,
      ],
      [
        'percent-encoding',
        () => uriCsr('spiffe://example.org/%41'),
        ErrorCode.SPIFFE_ID_INVALID,
        /percent-encoding is not allowed/,
      ],
      [
        'trailing slash',
        () => uriCsr('spiffe://example.org/a/'),
        ErrorCode.SPIFFE_ID_INVALID,
        /trailing "\/" is not allowed/,
      ],
      ['no path', () => uriCsr('spiffe://example.org'), ErrorCode.SPIFFE_ID_INVALID, /workload ID needs a path/],
      [
        'another trust domain',
        () => uriCsr('spiffe://other.org/ns/prod/sa/api'),
        ErrorCode.SPIFFE_ID_TRUST_DOMAIN,
        /trust domain "other\.org", but this control plane serves "example\.org"/,
      ],
      [
        'RSA-1024',
        () => rawCsr(nodeKeys('rsa-1024'), [{ type: 'url', value: API }], { name: 'RSASSA-PKCS1-v1_5' }),
        ErrorCode.KEY_TOO_WEAK,
        /RSA key of 1024 bits is too weak/,
      ],
      [
        'P-521',
        () => rawCsr(nodeKeys('ec-p521'), [{ type: 'url', value: API }], { name: 'ECDSA', hash: 'SHA-512' }),
        ErrorCode.KEY_UNSUPPORTED,
        /unsupported EC curve P-521/,
      ],
      [
        'Ed25519',
        () => rawCsr(ed25519, [{ type: 'url', value: API }], { name: 'Ed25519' }),
        ErrorCode.KEY_UNSUPPORTED,
        /unsupported key algorithm ed25519/i,
      ],
      [
        'random bytes',
        async () => globalThis.crypto.getRandomValues(new Uint8Array(512)),
        ErrorCode.CSR_MALFORMED,
        /not a DER PKCS#10 request/,
      ],
      ['empty CSR', async () => new Uint8Array(0), ErrorCode.CSR_MALFORMED, /not a DER PKCS#10 request/],
    ];
    for (const [name, make, code, message] of cases) {
      const joinToken = await token(API);
      const csr = await make();
      await refused(t, name, () => cp.identity.attest(joinToken, csr), code, message);
      await stillUsable(t, name, joinToken, API);
    }
  });

  t.test('Attest: token problems', async (t) => {
    const expired = await token(API, { ttlSeconds: 1 });
    cp.clock.advance(1_000);
    await refused(
      t,
      'expired token',
      async () => cp.identity.attest(expired, await uriCsr(API)),
      ErrorCode.TOKEN_EXPIRED,
      /join token has expired/,
    );

    const reused = await token(API);
    await stillUsable(t, 'first use', reused, API);
    await refused(
      t,
      'reused token',
      async () => cp.identity.attest(reused, await uriCsr(API)),
      ErrorCode.TOKEN_USED,
      /already been used/,
    );

    const forWeb = await token(WEB);
    await refused(
      t,
      'token for another ID',
      async () => cp.identity.attest(forWeb, await uriCsr(API)),
      ErrorCode.TOKEN_SPIFFE_ID_MISMATCH,
      /bound to spiffe:\/\/example\.org\/ns\/prod\/sa\/web, but the CSR asks for spiffe:\/\/example\.org\/ns\/prod\/sa\/api/,
    );
    await stillUsable(t, 'token for another ID', forWeb, WEB);

    const unknown = `sigil-jt-${Buffer.alloc(32, 7).toString('base64url')}`;
    tokensUsed.push(unknown);
    await refused(
      t,
      'unknown token',
      async () => cp.identity.attest(unknown, await uriCsr(API)),
      ErrorCode.TOKEN_INVALID,
      /not known to this control plane/,
    );
    await refused(
      t,
      'no token',
      async () => cp.identity.attest('', await uriCsr(API)),
      ErrorCode.TOKEN_INVALID,
      /no join token given/,
    );

    const keys = await generateKeyPair('ec-p256');
    await stillUsable(t, 'setup', await token(API), API);
    const twice = await token(API, { uses: 2 });
    await cp.identity.attest(twice, await makeCsr({ spiffeId: API, keys }));
    await refused(
      t,
      'key already certified',
      async () => cp.identity.attest(twice, await makeCsr({ spiffeId: API, keys })),
      ErrorCode.CSR_KEY_REUSED,
      /already certified/,
    );
    await stillUsable(t, 'key already certified', twice, API);
  });

  t.test('Renew over mTLS with the current SVID', async (t) => {
    const { keys, material } = await attested(API);
    await refused(
      t,
      'renew for a different ID',
      async () => cp.identity.renew(material, await makeCsr({ spiffeId: WEB, keys: await generateKeyPair('ec-p256') })),
      ErrorCode.CSR_SPIFFE_ID_MISMATCH,
      /asks for spiffe:\/\/example\.org\/ns\/prod\/sa\/web, but the caller is spiffe:\/\/example\.org\/ns\/prod\/sa\/api/,
    );
    await refused(
      t,
      'renew with the same key',
      async () => cp.identity.renew(material, await makeCsr({ spiffeId: API, keys })),
      ErrorCode.CSR_KEY_REUSED,
      /same key as the current SVID/,
    );
    await refused(
      t,
      'renew with random bytes',
      async () => cp.identity.renew(material, globalThis.crypto.getRandomValues(new Uint8Array(128))),
      ErrorCode.CSR_MALFORMED,
      /not a DER PKCS#10/,
    );

    const foreign = await (await makeTestPki(TD)).issueSvid(API);
    const foreignMaterial = {
      ...material,
      certChainPem: foreign.chainPem,
      keyPem: foreign.key.keyPem,
      serial: foreign.serial,
    };
    await refused(
      t,
      'renew with an SVID of a foreign CA',
      async () =>
        cp.identity.renew(foreignMaterial, await makeCsr({ spiffeId: API, keys: await generateKeyPair('ec-p256') })),
      ErrorCode.PEER_UNAUTHENTICATED,
      /needs mTLS with a certificate issued by this trust domain/,
    );

    const anonymous = new IdentityClient(
      cp.address,
      credentials.createSsl(Buffer.from(cp.bundlePem), null, null, serverCheck),
      CONTROL_PLANE_CHANNEL_OPTIONS,
    );
    t.teardown(() => anonymous.close());
    const before = await inventory();
    const csr = await makeCsr({ spiffeId: API, keys: await generateKeyPair('ec-p256') });
    const wire = await wireFailure((cb) => anonymous.renew({ csr }, deadline(), cb));
    t.match(
      wire,
      { status: GrpcStatus.UNAUTHENTICATED, code: ErrorCode.PEER_UNAUTHENTICATED, details: /needs mTLS/ },
      'renew without a client certificate',
    );
    t.same(await inventory(), before, 'renew without a client certificate: inventory unchanged');

    const renewed = await cp.identity.renew(
      material,
      await makeCsr({ spiffeId: API, keys: await generateKeyPair('ec-p256') }),
    );
    t.equal(
      parseX509Facts(renewed.chain[0]!).uriSans[0],
      API,
      'the refusals did not spoil the SVID: a proper renewal works',
    );
  });

  t.test('Admin calls need an admin SVID of this trust domain', async (t) => {
    const workload = await attested(API);
    const foreignAdmin = await (await makeTestPki(TD)).issueSvid(`spiffe://${TD}/sigil/admin/default`);
    // Encrypted at rest (issue 21): decrypted here as an attacker holding the passphrase too would.
    const cpKey = Buffer.from(
      createPrivateKey({
        key: await readFile(join(cp.dataDir, 'control-plane', 'key.pem')),
        passphrase: PASSPHRASE,
      }).export({ type: 'pkcs8', format: 'pem' }),
    );
    const cpChain = await readFile(join(cp.dataDir, 'control-plane', 'svid.pem'));
    const bundle = Buffer.from(cp.bundlePem);
    const callers: Array<[string, ReturnType<typeof credentials.createSsl>, number, string, RegExp]> = [
      [
        'no client certificate',
        credentials.createSsl(bundle, null, null, serverCheck),
        GrpcStatus.UNAUTHENTICATED,
        ErrorCode.PEER_UNAUTHENTICATED,
        /needs mTLS/,
      ],
      [
        'a workload SVID',
        credentials.createSsl(
          bundle,
          Buffer.from(workload.material.keyPem),
          Buffer.from(workload.material.certChainPem),
          serverCheck,
        ),
        GrpcStatus.PERMISSION_DENIED,
        ErrorCode.PEER_NOT_ADMIN,
        /spiffe:\/\/example\.org\/ns\/prod\/sa\/api is not an admin identity/,
      ],
      [
        "the control plane's own SVID",
        credentials.createSsl(bundle, cpKey, cpChain, serverCheck),
        GrpcStatus.PERMISSION_DENIED,
        ErrorCode.PEER_NOT_ADMIN,
        /is not an admin identity/,
      ],
      [
        'an admin ID from a foreign CA',
        credentials.createSsl(
          bundle,
          Buffer.from(foreignAdmin.key.keyPem),
          Buffer.from(foreignAdmin.chainPem),
          serverCheck,
        ),
        GrpcStatus.UNAUTHENTICATED,
        ErrorCode.PEER_UNAUTHENTICATED,
        /needs mTLS/,
      ],
    ];
    for (const [who, creds, status, code, details] of callers) {
      const client = new AdminClient(cp.address, creds, CONTROL_PLANE_CHANNEL_OPTIONS);
      const before = { inventory: await inventory(), tokens: tokenRows() };
      const calls: Array<[string, (cb: (err: ServiceError | null) => void) => unknown]> = [
        ['CreateJoinToken', (cb) => client.createJoinToken({ spiffeId: API }, deadline(), cb)],
        ['ListCertificates', (cb) => client.listCertificates({}, deadline(), cb)],
        ['GetCertificate', (cb) => client.getCertificate({ serial: workload.material.serial }, deadline(), cb)],
      ];
      for (const [rpc, invoke] of calls) {
        const wire = await wireFailure(invoke);
        t.match(wire, { status, code, details }, `${rpc} with ${who}`);
        messages.push(wire.details);
      }
      client.close();
      t.same(
        { inventory: await inventory(), tokens: tokenRows() },
        before,
        `${who}: no token made, inventory unchanged`,
      );
    }
  });

  t.test('CreateJoinToken refuses invalid, foreign and reserved IDs', async (t) => {
    const cases: Array<[string, string, RegExp]> = [
      ['SPIFFE://example.org/a', ErrorCode.SPIFFE_ID_INVALID, /scheme must be lowercase/],
      ['spiffe://Example.org/a', ErrorCode.SPIFFE_ID_INVALID, /lowercase letters/],
      ['spiffe://example.org:8080/a', ErrorCode.SPIFFE_ID_INVALID, /port is not allowed/],
      ['spiffe://example.org/a/../b', ErrorCode.SPIFFE_ID_INVALID, /"\." and "\.\." path segments/],
      ['spiffe://example.org/%41', ErrorCode.SPIFFE_ID_INVALID, /percent-encoding/],
      ['spiffe://example.org/a/', ErrorCode.SPIFFE_ID_INVALID, /trailing "\/"/],
      ['spiffe://example.org', ErrorCode.SPIFFE_ID_INVALID, /needs a path/],
      ['spiffe://other.org/ns/prod/sa/api', ErrorCode.SPIFFE_ID_TRUST_DOMAIN, /trust domain "other\.org"/],
      [`spiffe://${TD}/sigil/control-plane`, ErrorCode.INVALID_ARGUMENT, /reserved for Sigil's own components/],
      [`spiffe://${TD}/sigil/admin/mallory`, ErrorCode.INVALID_ARGUMENT, /reserved for Sigil's own components/],
    ];
    for (const [spiffeId, code, message] of cases) {
      await refused(
        t,
        `token for ${spiffeId}`,
        () => cp.admin.createJoinToken({ spiffeId, ttlSeconds: 0, uses: 0 }),
        code,
        message,
      );
    }
    const wire = await wireFailure((cb) => {
      const client = new AdminClient(
        cp.address,
        credentials.createSsl(Buffer.from(cp.bundlePem), null, null, serverCheck),
        CONTROL_PLANE_CHANNEL_OPTIONS,
      );
      client.createJoinToken({ spiffeId: 'spiffe://example.org/a/' }, deadline(), (err) => {
        client.close();
        cb(err);
      });
    });
    t.equal(wire.status, GrpcStatus.UNAUTHENTICATED, 'without a client certificate the ID is not even looked at');
  });

  t.test('GetCertificate: malformed and unknown serials', async (t) => {
    await refused(
      t,
      'malformed serial',
      () => cp.admin.getCertificate('not-hex'),
      ErrorCode.INVALID_ARGUMENT,
      /malformed serial "not-hex"/,
    );
    await refused(
      t,
      'unknown serial',
      () => cp.admin.getCertificate('ab'.repeat(16)),
      ErrorCode.NOT_FOUND,
      /no certificate with serial abab/,
    );
  });

  t.test('a bundle from another CA is named as such, not as an unreachable control plane (issue 20)', async (t) => {
    const otherCa = await makeTestPki(TD);
    const api = new GrpcIdentityApi({ address: cp.address, bundlePem: () => otherCa.root.pem, trustDomain: TD });
    const err = await api.fetchTrust().then(
      () => undefined,
      (e: unknown) => e as { code?: string; message?: string },
    );
    t.equal(err?.code, ErrorCode.CONTROL_PLANE_UNTRUSTED);
    t.match(err?.message, /does not chain to the bundle you gave/);
    t.notMatch(err?.message, /unreachable/);
  });

  t.test('no refusal and no log line carries a join token or private key', async (t) => {
    t.ok(tokensUsed.length > 20 && messages.length > 40, 'the checks below saw many tokens and messages');
    const logText = cp.logs.join('');
    t.ok(
      cp.logs.some((l) => l.includes('"request refused"') && l.includes(ErrorCode.CSR_SIGNATURE)),
      'refusals were logged (so the log check can fail)',
    );
    for (const secret of tokensUsed) {
      const random = secret.slice('sigil-jt-'.length);
      t.notOk(
        messages.some((m) => m.includes(random)),
        'token not in any error message',
      );
      t.notOk(logText.includes(random), 'token not in the log');
    }
    t.notOk(
      messages.some((m) => /PRIVATE KEY|BEGIN/.test(m)),
      'no PEM in any error message',
    );
    t.notOk(/PRIVATE KEY/.test(logText), 'no private key in the log');
  });
});
