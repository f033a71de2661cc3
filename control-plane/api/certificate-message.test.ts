import t from 'tap';
import type { CertificateRecord } from '../store/store.ts';
import { certificateMessage } from './certificate-message.ts';

const row: CertificateRecord = {
  serial: '0a',
  spiffeId: 'spiffe://example.org/ns/a/sa/b',
  kind: 'svid',
  keyType: 'ec-p256',
  notBefore: 0,
  notAfter: 1,
  issuerSerial: 'ca',
  status: 'active',
  issuedAt: 0,
  publicKeySha256: 'aa',
  der: new Uint8Array(),
  supersededBy: null,
};

t.test('an SVID a renewal replaced is listed as superseded, not active (issue 20)', async (t) => {
  t.equal(certificateMessage(row).status, 'active');
  t.equal(certificateMessage({ ...row, supersededBy: '0b' }).status, 'superseded');
  t.equal(certificateMessage({ ...row, status: 'revoked', supersededBy: '0b' }).status, 'revoked', 'revoked wins');
});
