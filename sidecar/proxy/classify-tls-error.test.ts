import t from 'tap';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { classifyTlsError } from './classify-tls-error.ts';

const withCode = (code: string): Error => Object.assign(new Error('x'), { code });

t.test('maps handshake errors to refusal reasons', async (t) => {
  const cases: [unknown, string][] = [
    [withCode('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'), 'no_peer_certificate'],
    [withCode('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'), 'no_peer_certificate'],
    [withCode('ERR_SSL_UNSUPPORTED_PROTOCOL'), 'unsupported_protocol'],
    [withCode('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION'), 'unsupported_protocol'],
    [withCode('ERR_SSL_NO_SHARED_CIPHER'), 'unsupported_protocol'],
    [withCode('ERR_SSL_CERTIFICATE_VERIFY_FAILED'), 'untrusted_certificate'],
    [withCode('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'), 'untrusted_certificate'],
    [withCode('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'untrusted_certificate'],
    [withCode('CERT_HAS_EXPIRED'), 'untrusted_certificate'],
    [withCode('ECONNRESET'), 'handshake_failed'],
    [new Error('no code'), 'handshake_failed'],
    [undefined, 'handshake_failed'],
    [new SigilError(ErrorCode.PEER_ID_MISMATCH, 'x'), 'unexpected_peer'],
    [new SigilError(ErrorCode.SVID_INVALID, 'x'), 'invalid_svid'],
  ];
  for (const [err, reason] of cases)
    t.equal(classifyTlsError(err), reason, String((err as { code?: string })?.code ?? err));
});
