import type * as acme from 'acme-client';
import { createPublicKey, X509Certificate } from 'node:crypto';
import t from 'tap';
import { makeCert, makeKey } from '../../test/fixtures/cert-factory.ts';
import type { ChallengeSolver } from './challenges/challenge-solver.ts';
import { orderCertificate } from './certificate-order.ts';

// A typed stand-in for acme-client's Client, for what a real CA cannot be made to do: answer with a chain that does
// not fit the key or the names, or refuse `replaces`. Orders against a real CA are in test/acme-*.test.ts.
const noSolver: ChallengeSolver = { type: 'http-01', present: async () => {}, cleanup: async () => {} };

function fakeClient(answer: (csrPem: string) => Promise<string>, options: { refuseReplaces?: boolean } = {}) {
  const orders: Record<string, unknown>[] = [];
  const order = { url: 'https://ca.example/order/1', status: 'ready', authorizations: [], finalize: 'f' };
  let csr = '';
  const client = {
    createOrder: async (payload: Record<string, unknown>) => {
      orders.push(payload);
      if (options.refuseReplaces && 'replaces' in payload)
        throw new Error('alreadyReplaced: certificate already replaced');
      return order;
    },
    getAuthorizations: async () => [],
    finalizeOrder: async (_order: unknown, csrPem: string) => {
      csr = csrPem;
      return { ...order, status: 'valid', certificate: 'c' };
    },
    getCertificate: async () => answer(csr),
  };
  return { client: client as unknown as acme.Client, orders };
}

const request = { name: 'www', names: ['www.example.test'], keyType: 'ec-p256' as const, solver: noSolver };

t.test('a chain for another key is refused before anything is installed', async (t) => {
  const issuer = await makeCert({ subject: 'CN=Fake CA', isCa: true });
  const other = await makeCert({ dnsNames: ['www.example.test'], issuer });
  const { client } = fakeClient(async () => other.pem + issuer.pem);
  await t.rejects(orderCertificate(client, request), {
    code: 'SIGIL_ERR_ACME_CHAIN_MISMATCH',
    message: /chain for www that does not match the key Sigil generated; nothing was installed/,
  });
});

t.test('a certificate missing a name, or a broken chain, is refused', async (t) => {
  const issuer = await makeCert({ subject: 'CN=Fake CA', isCa: true });
  const stranger = await makeCert({ subject: 'CN=Someone else', isCa: true });
  // Certifies the key of the CSR Sigil sent, as a CA would, with the names (or issuer) the test chooses.
  const certify =
    (names: string[], signer = issuer) =>
    async (csrPem: string) => {
      const x509 = await import('@peculiar/x509');
      const csr = new x509.Pkcs10CertificateRequest(csrPem);
      const publicKey = await csr.publicKey.export(globalThis.crypto);
      const key = { ...(await makeKey()), publicKey };
      const leaf = await makeCert({ key, dnsNames: names, issuer: signer });
      return leaf.pem + issuer.pem;
    };
  await t.rejects(orderCertificate(fakeClient(certify(['other.example.test'])).client, request), {
    code: 'SIGIL_ERR_ACME_CHAIN_MISMATCH',
    message: /does not name www\.example\.test/,
  });
  await t.rejects(orderCertificate(fakeClient(certify(['www.example.test'], stranger)).client, request), {
    code: 'SIGIL_ERR_ACME_CHAIN_MISMATCH',
    message: /out of order or broken at position 1/,
  });
  const good = await orderCertificate(fakeClient(certify(['www.example.test'])).client, request);
  t.equal(good.chainDer.length, 1, 'a fitting chain is accepted');
  const certified = new X509Certificate(good.leafDer).publicKey.export({ format: 'der', type: 'spki' });
  const generated = createPublicKey(good.keyPem).export({ format: 'der', type: 'spki' });
  t.ok(certified.equals(generated), 'the new key is the certified one');
});

t.test('a CA that refuses replaces gets the order again without it', async (t) => {
  const issuer = await makeCert({ subject: 'CN=Fake CA', isCa: true });
  const certify = async (csrPem: string) => {
    const x509 = await import('@peculiar/x509');
    const publicKey = await new x509.Pkcs10CertificateRequest(csrPem).publicKey.export(globalThis.crypto);
    const leaf = await makeCert({ key: { ...(await makeKey()), publicKey }, dnsNames: ['www.example.test'], issuer });
    return leaf.pem + issuer.pem;
  };
  const { client, orders } = fakeClient(certify, { refuseReplaces: true });
  const issued = await orderCertificate(client, {
    ...request,
    replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE',
    profile: 'tlsserver',
  });
  t.equal(issued.replacesSent, false);
  t.same(
    orders.map((o) => [o['replaces'] ?? null, o['profile']]),
    [
      ['aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE', 'tlsserver'],
      [null, 'tlsserver'],
    ],
  );
});
