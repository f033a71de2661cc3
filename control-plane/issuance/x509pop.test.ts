import t from 'tap';
import { createPrivateKey, randomBytes } from 'node:crypto';
import { FakeClock } from '../../common/clock.ts';
import { ErrorCode } from '../../common/errors.ts';
import { signX509PopChallenge } from '../../common/x509pop-proof.ts';
import { makeCert, type TestCert } from '../../test/fixtures/cert-factory.ts';
import { checkX509PopTemplate, DEFAULT_X509POP_TEMPLATE } from './x509pop-template.ts';
import { X509PopAttestor } from './x509pop.ts';

const TD = 'example.org';
const HOST = 'spiffe://{{ .TrustDomain }}/host/{{ .Subject.CommonName }}';
const deviceCa = await makeCert({ subject: 'CN=Device CA', isCa: true, keyUsage: ['keyCertSign', 'cRLSign'] });
const device = (cn: string, extra: Partial<Parameters<typeof makeCert>[0]> = {}) =>
  makeCert({ subject: `CN=${cn}`, issuer: deviceCa, keyUsage: ['digitalSignature'], ...extra });
const csr = randomBytes(64);

function attestor(template = HOST, clock = new FakeClock(Date.now())) {
  return { clock, pop: new X509PopAttestor({ caBundlePem: deviceCa.pem, spiffeIdTemplate: template }, TD, clock) };
}
function prove(cert: TestCert, nonce: Uint8Array, body = csr) {
  return {
    nonce,
    chainDer: [cert.der],
    csrDer: body,
    signature: signX509PopChallenge(createPrivateKey(cert.key.keyPem), nonce, body),
  };
}

t.test('the ID comes from the template; a nonce answers once, for this leaf and this CSR only', async (t) => {
  const { pop } = attestor();
  const one = await device('node-1');
  const challenge = pop.challenge([one.der]);
  t.equal(challenge.spiffeId, `spiffe://${TD}/host/node-1`);
  t.equal(pop.verify(prove(one, challenge.nonce)).spiffeId.uri, `spiffe://${TD}/host/node-1`);
  t.throws(() => pop.verify(prove(one, challenge.nonce)), { code: ErrorCode.TOKEN_INVALID }, 'single-use');

  const again = pop.challenge([one.der]);
  const proof = prove(one, again.nonce);
  t.throws(() => pop.verify({ ...proof, csrDer: randomBytes(64) }), /does not verify/, 'bound to the CSR');

  const two = await device('node-2');
  const forTwo = pop.challenge([two.der]);
  t.throws(() => pop.verify(prove(one, forTwo.nonce)), /issued for another certificate/);
});

t.test('a nonce expires after a minute', async (t) => {
  const { pop, clock } = attestor();
  const one = await device('node-1');
  const challenge = pop.challenge([one.der]);
  clock.advance(60_000);
  t.throws(() => pop.verify(prove(one, challenge.nonce)), /unknown, used or expired/);
});

t.test('chain, key usage and validity are checked', async (t) => {
  const { pop } = attestor();
  const otherCa = await makeCert({ subject: 'CN=Device CA', isCa: true, keyUsage: ['keyCertSign'] });
  const foreign = await makeCert({ subject: 'CN=node-9', issuer: otherCa, keyUsage: ['digitalSignature'] });
  t.throws(() => pop.challenge([foreign.der]), /does not chain/, 'same issuer name, other key');
  const encipherOnly = await device('enc', { keyUsage: ['keyEncipherment'] });
  t.throws(() => pop.challenge([encipherOnly.der]), /digitalSignature/);
  t.throws(() => pop.challenge([deviceCa.der]), /end-entity/);
  const expired = await device('old', {
    notBefore: new Date(Date.now() - 7_200_000),
    notAfter: new Date(Date.now() - 3_600_000),
  });
  t.throws(() => pop.challenge([expired.der]), /expired/);
  t.throws(() => pop.challenge([]), /device certificate chain/);
  t.throws(() => pop.challenge([new Uint8Array([1, 2, 3])]), /does not parse/);
});

t.test('templates: reserved paths, other trust domains and invalid IDs are refused', async (t) => {
  const cn = await device('control-plane');
  t.throws(() => attestor('spiffe://{{ .TrustDomain }}/sigil/{{ .CN }}').pop.challenge([cn.der]), /reserved/);
  t.throws(() => attestor('spiffe://other.org/host/{{ .CN }}').pop.challenge([cn.der]), {
    code: ErrorCode.SPIFFE_ID_INVALID,
  });
  const spaced = await device('a b');
  t.throws(() => attestor().pop.challenge([spaced.der]), /not a valid workload SPIFFE ID/);
  t.match(
    attestor(DEFAULT_X509POP_TEMPLATE).pop.challenge([cn.der]).spiffeId,
    /^spiffe:\/\/example\.org\/x509pop\/[0-9a-f]{40}$/,
  );
  t.throws(() => checkX509PopTemplate('spiffe://{{ .TrustDomain }}/{{ .Serial }}', 'cp.yaml'), /unknown placeholder/);
  t.throws(() => checkX509PopTemplate('host/{{ .CN }}', 'cp.yaml'), /must start with spiffe:\/\//);
});
