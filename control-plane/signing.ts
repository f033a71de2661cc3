// The code-signing entry point: what `sigil signing|tsa|sign|verify` use. It loads the signing code (pkijs,
// X.509, the TSA and its SQLite log) and no CA service, control-plane store or server, so `sigil verify` on a deploy
// host pays only for verification. Admin calls (issuing certificates) go through admin.ts.
export { writePrivateKeyFile } from './ca/key-file.ts';
export { makeSigningCsr } from './signing/signing-csr.ts';
export { loadSigningKeyFile, signatureAlgorithmOf, type SigningKey } from './signing/signing-key.ts';
export { assertCanSign, signDigest, type SignedDigest, tsaTimestamper } from './signing/sign-artifact.ts';
export { fileDigest } from './signing/file-digest.ts';
export { verifyArtifact } from './signing/verification/verify-artifact.ts';
export type { Verdict } from './signing/verification/verification-rules.ts';
export { TimestampAuthority, DEFAULT_TSA_POLICY } from './signing/tsa/timestamp-authority.ts';
export { SqliteTimestampLog } from './signing/tsa/timestamp-log.ts';
export { TsaHttpServer } from './signing/tsa/tsa-http-server.ts';
export { parseTsaUrl } from './signing/tsa-client.ts';
export { httpBytes } from './signing/http-bytes.ts';
export { writeNewFile } from './ca/write-new-file.ts';
export type { SigningProfile } from './ca/signing-templates.ts';
export { Pkcs11Token } from './keys/pkcs11-token.ts';
