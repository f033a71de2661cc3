import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type * as acme from 'acme-client';
import { X509Certificate, createPublicKey, KeyObject } from 'node:crypto';
import { ErrorCode, isSigilError, SigilError } from '../../common/errors.ts';
import { generateKeyPair, privateKeyPemOf, signingAlgorithm } from '../../common/key-pair.ts';
import type { KeyType } from '../../common/key-type.ts';
import { derToPem, pemCertificatesToDer } from '../../common/trust-bundle.ts';
import { parseX509Facts } from '../../common/x509-facts.ts';
import { describeProblem, type AcmeProblem } from './acme-problem.ts';
import type { ChallengeSolver, ChallengeTask } from './challenges/challenge-solver.ts';

export interface OrderRequest {
  /** Certificate name, for messages. */
  readonly name: string;
  readonly names: readonly string[];
  readonly keyType: KeyType;
  readonly solver: ChallengeSolver;
  readonly profile?: string | undefined;
  /** ARI certificate identifier of the certificate this order replaces (RFC 9773 5). */
  readonly replaces?: string | undefined;
}

export interface IssuedAcmeCertificate {
  /** Unencrypted PKCS#8 PEM of the new key: it goes to the install directory (0600) and nowhere else. */
  readonly keyPem: string;
  readonly leafDer: Uint8Array;
  /** Intermediates in order, leaf excluded. */
  readonly chainDer: readonly Uint8Array[];
  readonly orderUrl: string;
  /** False when the server refused `replaces` and the order went through without it. */
  readonly replacesSent: boolean;
}

/** Runs one library call; its message-only errors become ACME_PROBLEM naming the step. */
async function step<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (isSigilError(err)) throw err;
    throw new SigilError(ErrorCode.ACME_PROBLEM, `${what}: the ACME server answered: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Orders, validates, finalizes and downloads one certificate (RFC 8555 7.4) with a new key, then checks that what
 * came back is a chain for that key and those names. Challenges are always cleaned up. Nothing is written here.
 */
export async function orderCertificate(client: acme.Client, request: OrderRequest): Promise<IssuedAcmeCertificate> {
  const identifiers = request.names.map((value) => ({ type: 'dns', value }));
  const payload = (replaces: string | undefined) => ({
    identifiers,
    ...(request.profile !== undefined ? { profile: request.profile } : {}),
    ...(replaces !== undefined ? { replaces } : {}),
  });
  let replacesSent = request.replaces !== undefined;
  let order: acme.Order;
  try {
    order = await step(`creating the order for ${request.name}`, () => client.createOrder(payload(request.replaces)));
  } catch (err) {
    // RFC 9773 5: a server may refuse `replaces` (already replaced, unknown certificate); order without it.
    if (request.replaces === undefined || !isSigilError(err, ErrorCode.ACME_PROBLEM)) throw err;
    replacesSent = false;
    order = await step(`creating the order for ${request.name}`, () => client.createOrder(payload(undefined)));
  }
  const authorizations = await step(`reading the authorizations of ${request.name}`, () =>
    client.getAuthorizations(order),
  );
  for (const authz of authorizations) {
    if (authz.status === 'valid') continue;
    await validate(client, request, order, authz);
  }
  const keys = await generateKeyPair(request.keyType);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: request.names[0] !== undefined && request.names[0].length <= 64 ? `CN=${request.names[0]}` : '',
      keys,
      signingAlgorithm: signingAlgorithm(request.keyType),
      extensions: [new x509.SubjectAlternativeNameExtension(request.names.map((value) => ({ type: 'dns', value })))],
    },
    globalThis.crypto,
  );
  const finalized = await step(`finalizing the order of ${request.name}`, () =>
    client.finalizeOrder(order, csr.toString('pem')),
  );
  const pem = await step(`downloading the certificate of ${request.name}`, () => client.getCertificate(finalized));
  const keyPem = privateKeyPemOf(keys.privateKey);
  const [leafDer, ...chainDer] = pemCertificatesToDer(pem);
  if (leafDer === undefined) {
    throw new SigilError(ErrorCode.ACME_CHAIN_MISMATCH, `the ACME server returned no certificate for ${request.name}`);
  }
  checkChain(request, KeyObject.from(keys.privateKey), leafDer, chainDer);
  return { keyPem, leafDer, chainDer, orderUrl: order.url, replacesSent };
}

async function validate(
  client: acme.Client,
  request: OrderRequest,
  order: acme.Order,
  authz: acme.Authorization,
): Promise<void> {
  const identifier = authz.identifier.value;
  const challenge = authz.challenges.find((c) => c.type === request.solver.type);
  if (!challenge) {
    const offered = authz.challenges.map((c) => c.type).join(', ') || 'none';
    throw new SigilError(
      ErrorCode.ACME_UNSUPPORTED,
      `the ACME server offers no ${request.solver.type} challenge for ${identifier} (offered: ${offered}): choose one of those for ${request.name}`,
    );
  }
  const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
  const task: ChallengeTask = { identifier, token: challenge.token, keyAuthorization };
  try {
    await request.solver.present(task);
    await step(`answering the ${challenge.type} challenge for ${identifier}`, () =>
      client.completeChallenge(challenge),
    );
    try {
      await client.waitForValidStatus(challenge);
    } catch (err) {
      if (isSigilError(err)) throw err;
      const problem = await challengeProblem(client, order, identifier, challenge.type);
      throw new SigilError(
        ErrorCode.ACME_CHALLENGE_FAILED,
        `${challenge.type} validation of ${identifier} (certificate ${request.name}) failed: ${describeProblem(problem)}`,
        { cause: err, details: { identifier, challenge: challenge.type, problemType: problem?.type ?? '' } },
      );
    }
  } finally {
    await request.solver.cleanup(task).catch(() => {
      // Cleanup failures must not hide the validation result; a leftover token or TXT record is harmless.
    });
  }
}

/** The server's problem document for a failed challenge, read back from the authorization. */
async function challengeProblem(
  client: acme.Client,
  order: acme.Order,
  identifier: string,
  type: string,
): Promise<AcmeProblem | undefined> {
  try {
    const authz = (await client.getAuthorizations(order)).find((a) => a.identifier.value === identifier);
    const challenge = authz?.challenges.find((c) => c.type === type) as { error?: AcmeProblem } | undefined;
    return challenge?.error;
  } catch {
    return undefined;
  }
}

/** The CA must return a certificate for our key and our names, each certificate signed by the next. */
function checkChain(request: OrderRequest, key: KeyObject, leafDer: Uint8Array, chainDer: readonly Uint8Array[]): void {
  const fail = (why: string) => {
    throw new SigilError(
      ErrorCode.ACME_CHAIN_MISMATCH,
      `the ACME server returned a certificate chain for ${request.name} that ${why}; nothing was installed`,
    );
  };
  const leaf = parseX509Facts(leafDer);
  const ours = createPublicKey(key).export({ format: 'der', type: 'spki' });
  const theirs = new X509Certificate(leafDer).publicKey.export({ format: 'der', type: 'spki' });
  if (!ours.equals(theirs)) fail('does not match the key Sigil generated');
  const missing = request.names.filter((n) => !leaf.dnsSans.includes(n));
  if (missing.length > 0) fail(`does not name ${missing.join(', ')}`);
  const all = [leafDer, ...chainDer].map((der) => new X509Certificate(der));
  for (let i = 0; i + 1 < all.length; i++) {
    const child = all[i] as X509Certificate;
    const parent = all[i + 1] as X509Certificate;
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      fail(`is out of order or broken at position ${i + 1}`);
    }
  }
}

export function chainPem(ders: readonly Uint8Array[]): string {
  return ders.map(derToPem).join('');
}
