import 'reflect-metadata';
import t from 'tap';
import * as asn1js from 'asn1js';
import { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import * as pkijs from 'pkijs';
import { ErrorCode } from '../../../common/errors.ts';
import { createLogger } from '../../../common/logger.ts';
import { makeCert, makeTestPki } from '../../../test/fixtures/cert-factory.ts';
import { DAY_MS } from '../../ca/templates.ts';
import { OID } from '../oids.ts';
import { keyObjectSigningKey } from '../signing-key.ts';
import { makeSigningKit, T0, TSA_POLICY } from '../signing-test-kit.ts';
import { inspectTimestampToken, timestampRequest, tokenOfReply } from '../timestamp-token.ts';
import { TimestampAuthority } from './timestamp-authority.ts';
import { SqliteTimestampLog } from './timestamp-log.ts';

const kit = await makeSigningKit('tsa-tests');
t.teardown(() => kit.close());
const logger = createLogger({ component: 'tsa', level: 'silent' });
const STAMPED = new TextEncoder().encode('a signature value');

function status(reply: Uint8Array): { status: number; text: string; failBit: number | undefined } {
  const resp = pkijs.TimeStampResp.fromBER(reply);
  const bits = resp.status.failInfo?.valueBlock.valueHexView;
  let failBit: number | undefined;
  if (bits) {
    for (let i = 0; i < bits.length * 8 && failBit === undefined; i++)
      if (bits[i >> 3]! & (0x80 >> (i & 7))) failBit = i;
  }
  return {
    status: resp.status.status as number,
    text: (resp.status.statusStrings ?? []).map((s) => s.valueBlock.value).join(' '),
    failBit,
  };
}

t.test('a granted token echoes the nonce and imprint, names the policy, accuracy and TSA, and is logged', async (t) => {
  const request = timestampRequest({ stamped: STAMPED, digest: 'SHA-256', nonce: Uint8Array.of(0x12, 0x34, 0x56) });
  kit.clock.set(T0 + 2 * DAY_MS + 1234);
  const reply = await kit.tsa.respond(request.der, '10.0.0.7');
  const token = await inspectTimestampToken(tokenOfReply(reply), STAMPED);
  t.equal(token.nonce, request.nonce, 'nonce echoed');
  t.ok(token.imprintMatches, 'imprint of the stamped bytes');
  t.equal(token.policy, TSA_POLICY);
  t.equal(token.accuracyMs, 1000, 'accuracy 1 s');
  t.equal(token.genTime, T0 + 2 * DAY_MS + 1000, 'genTime from the clock, whole seconds');
  t.ok(token.signer.signatureValid && token.signer.digestMatches, 'TSA signature verifies');
  t.same(token.signer.ess, { ok: true, version: 2 }, 'ESSCertIDv2 names the TSA certificate');
  t.same(token.signer.signerCertificate, kit.tsaSigner.leafDer, 'certReq: the TSA certificate is included');
  const logged = await kit.log.get(token.serial);
  t.same(logged?.token, token.der, 'the token is in the log, byte for byte');
  t.match(logged, { client: '10.0.0.7', policy: TSA_POLICY, nonce: request.nonce, genTime: token.genTime });
});

t.test('without certReq the token carries no certificates (RFC 3161 2.4.1)', async (t) => {
  const request = pkijs.TimeStampReq.fromBER(
    timestampRequest({ stamped: STAMPED, digest: 'SHA-256', nonce: Uint8Array.of(1) }).der,
  );
  request.certReq = false;
  const token = await inspectTimestampToken(
    tokenOfReply(await kit.tsa.respond(new Uint8Array(request.toSchema().toBER()))),
    STAMPED,
  );
  t.equal(token.signer.certificates.length, 0);
  t.equal(token.signer.signerCertificate, undefined);
});

t.test('serials never repeat, across a restart of the log', async (t) => {
  const path = join(kit.dir, 'restart.db');
  const serials = new Set<string>();
  for (let run = 0; run < 2; run++) {
    const log = new SqliteTimestampLog({ path });
    const tsa = new TimestampAuthority(
      { chainDer: kit.tsaSigner.chainDer, policy: TSA_POLICY },
      { key: kit.tsaSigner.key, log, clock: kit.clock, logger },
    );
    for (let i = 0; i < 3; i++) {
      const req = timestampRequest({ stamped: STAMPED, digest: 'SHA-256', nonce: Uint8Array.of(run, i + 1) });
      serials.add((await inspectTimestampToken(tokenOfReply(await tsa.respond(req.der)), STAMPED)).serial);
    }
    t.equal((await log.list()).length, 3 * (run + 1), `run ${run + 1}: every token logged`);
    log.close();
  }
  t.equal(serials.size, 6, 'six tokens, six serials');
  const fresh = new SqliteTimestampLog({ path: join(kit.dir, 'fresh.db') });
  t.teardown(() => fresh.close());
  const first = Buffer.from(await fresh.nextSerial()).toString('hex');
  t.notOk(serials.has(first.replace(/^(00)+/, '')), 'a new log file does not restart the same serials');
});

const refusals: Array<[string, () => Uint8Array, number, RegExp]> = [
  ['garbage', () => new TextEncoder().encode('not a request'), 5, /not a DER TimeStampReq/],
  [
    'SHA-1 imprint',
    () => {
      const req = pkijs.TimeStampReq.fromBER(
        timestampRequest({ stamped: STAMPED, digest: 'SHA-256', nonce: Uint8Array.of(1) }).der,
      );
      req.messageImprint = new pkijs.MessageImprint({
        hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: OID.sha1 }),
        hashedMessage: new asn1js.OctetString({ valueHex: new Uint8Array(20) }),
      });
      return new Uint8Array(req.toSchema().toBER());
    },
    0,
    /not accepted/,
  ],
  [
    'imprint of the wrong length',
    () => {
      const req = pkijs.TimeStampReq.fromBER(
        timestampRequest({ stamped: STAMPED, digest: 'SHA-256', nonce: Uint8Array.of(1) }).der,
      );
      req.messageImprint.hashedMessage = new asn1js.OctetString({ valueHex: new Uint8Array(5) });
      return new Uint8Array(req.toSchema().toBER());
    },
    5,
    /not a SHA-256 digest/,
  ],
  [
    'unknown policy',
    () => timestampRequest({ stamped: STAMPED, digest: 'SHA-256', nonce: Uint8Array.of(1), policy: '1.2.3.4' }).der,
    15,
    /policy 1\.2\.3\.4 is not served/,
  ],
];

for (const [name, make, bit, text] of refusals) {
  t.test(`refused: ${name}`, async (t) => {
    const before = (await kit.log.list()).length;
    const reply = status(await kit.tsa.respond(make()));
    t.equal(reply.status, 2, 'rejection');
    t.equal(reply.failBit, bit, `PKIFailureInfo bit ${bit}`);
    t.match(reply.text, text);
    t.equal((await kit.log.list()).length, before, 'nothing logged');
  });
}

t.test('a UUID-arc policy can be asked for and comes back in decimal', async (t) => {
  const uuidPolicy = '2.25.256090522094295837721338069607557167285';
  const tsa = new TimestampAuthority(
    { chainDer: kit.tsaSigner.chainDer, policy: TSA_POLICY, acceptedPolicies: [uuidPolicy] },
    { key: kit.tsaSigner.key, log: kit.log, clock: kit.clock, logger },
  );
  const req = timestampRequest({ stamped: STAMPED, digest: 'SHA-384', nonce: Uint8Array.of(9), policy: uuidPolicy });
  const token = await inspectTimestampToken(tokenOfReply(await tsa.respond(req.der)), STAMPED);
  t.equal(token.policy, uuidPolicy);
  t.equal(token.imprintDigest, 'SHA-384', 'the requested hash is kept');
});

t.test('no token outside the TSA certificate validity: systemFailure', async (t) => {
  const log = new SqliteTimestampLog({ path: join(kit.dir, 'late.db') });
  t.teardown(() => log.close());
  const clock = { now: () => T0 + 400 * DAY_MS, setTimer: kit.clock.setTimer.bind(kit.clock) };
  const tsa = new TimestampAuthority(
    { chainDer: kit.tsaSigner.chainDer, policy: TSA_POLICY },
    { key: kit.tsaSigner.key, log, clock, logger },
  );
  const reply = status(
    await tsa.respond(timestampRequest({ stamped: STAMPED, digest: 'SHA-256', nonce: Uint8Array.of(1) }).der),
  );
  t.equal(reply.status, 2);
  t.equal(reply.failBit, 25, 'systemFailure');
  t.same(await log.list(), [], 'nothing issued, nothing logged');
});

t.test('the TSA refuses to start with an unfit certificate or a foreign key', async (t) => {
  const pki = await makeTestPki();
  const lax = await makeCert({ issuer: pki.intermediate, extKeyUsage: ['timeStamping'], extKeyUsageCritical: false });
  const both = await makeCert({
    issuer: pki.intermediate,
    extKeyUsage: ['timeStamping', 'codeSigning'],
    extKeyUsageCritical: true,
  });
  const keyOf = (c: { key: { privateKey: CryptoKey } }) => keyObjectSigningKey(KeyObject.from(c.key.privateKey), 'k');
  for (const [name, cert, key, pattern] of [
    ['non-critical EKU', lax, keyOf(lax), /critical/],
    ['a second EKU', both, keyOf(both), /only extended key usage/],
    ['the code-signing certificate', { der: kit.signer.leafDer }, kit.signer.key, /only extended key usage/],
    ["another certificate's key", { der: kit.tsaSigner.leafDer }, kit.signer.key, /does not belong/],
  ] as const) {
    t.throws(
      () =>
        new TimestampAuthority(
          { chainDer: [cert.der], policy: TSA_POLICY },
          { key, log: kit.log, clock: kit.clock, logger },
        ),
      { message: pattern },
      name,
    );
  }
  t.throws(
    () =>
      new TimestampAuthority(
        { chainDer: kit.tsaSigner.chainDer, policy: 'tsa-policy-1' },
        { key: kit.tsaSigner.key, log: kit.log, clock: kit.clock, logger },
      ),
    { code: ErrorCode.INVALID_ARGUMENT },
    'a policy that is not an OID',
  );
});
