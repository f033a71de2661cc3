import 'reflect-metadata';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as x509 from '@peculiar/x509';
import { createHash, randomBytes } from 'node:crypto';
import { createSecureContext, createServer, type SecureContext, type Server } from 'node:tls';
import type { HostPort } from '../../../common/address.ts';
import { ErrorCode, SigilError } from '../../../common/errors.ts';
import { generateKeyPair, privateKeyPemOf } from '../../../common/key-pair.ts';
import { closeServer, listenOn } from './listen.ts';
import type { ChallengeSolver } from './challenge-solver.ts';

/** RFC 8737: the protocol name a validating CA offers, and the id-pe-acmeIdentifier extension. */
export const ACME_TLS_ALPN = 'acme-tls/1';
export const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';

/**
 * The self-signed certificate a tls-alpn-01 responder presents for `identifier`: that name as its only SAN and a
 * critical acmeIdentifier extension holding SHA-256 of the key authorization as an OCTET STRING.
 */
export async function tlsAlpnChallengeCertificate(
  identifier: string,
  keyAuthorization: string,
): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeyPair('ec-p256');
  const digest = createHash('sha256').update(keyAuthorization).digest();
  const acmeIdentifier = AsnConvert.serialize(new OctetString(digest));
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomBytes(8)
        .toString('hex')
        .replace(/^[89a-f]/, '1'),
      name: `CN=${identifier}`,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 86_400_000),
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: identifier }], false),
        new x509.Extension(ACME_IDENTIFIER_OID, true, acmeIdentifier),
      ],
    },
    globalThis.crypto,
  );
  return { certPem: cert.toString('pem'), keyPem: privateKeyPemOf(keys.privateKey) };
}

/**
 * Sigil's tls-alpn-01 responder: a TLS listener that completes a handshake only when the client offers acme-tls/1
 * and names (SNI) an identifier with a challenge in flight, presenting that identifier's challenge certificate.
 * Everything else fails the handshake; no application data is ever exchanged.
 */
export class TlsAlpn01Listener {
  readonly #contexts = new Map<string, SecureContext>();
  readonly #server: Server;

  constructor() {
    this.#server = createServer({
      minVersion: 'TLSv1.2',
      SNICallback: (servername, cb) => {
        const context = this.#contexts.get(servername.toLowerCase());
        if (context) cb(null, context);
        else cb(new Error(`no tls-alpn-01 challenge for ${servername}`));
      },
      ALPNCallback: ({ protocols }) => (protocols.includes(ACME_TLS_ALPN) ? ACME_TLS_ALPN : undefined),
    });
    this.#server.on('secureConnection', (socket) => socket.end());
    this.#server.on('tlsClientError', () => {
      // Probes and scanners without a challenge in flight: nothing to report.
    });
  }

  listen(at: HostPort): Promise<HostPort> {
    return listenOn(this.#server, at);
  }

  close(): Promise<void> {
    return closeServer(this.#server);
  }

  solver(): ChallengeSolver {
    return {
      type: 'tls-alpn-01',
      present: async (task) => {
        if (!this.#server.listening) {
          throw new SigilError(
            ErrorCode.ACME_CHALLENGE_SETUP,
            `tls-alpn-01 for ${task.identifier} needs Sigil's challenge listener: set acme.tlsAlpn01.listen in the control plane's configuration (the CA connects to port 443 of the name)`,
          );
        }
        const { certPem, keyPem } = await tlsAlpnChallengeCertificate(task.identifier, task.keyAuthorization);
        this.#contexts.set(task.identifier, createSecureContext({ cert: certPem, key: keyPem, minVersion: 'TLSv1.2' }));
      },
      cleanup: async (task) => {
        this.#contexts.delete(task.identifier);
      },
    };
  }
}
