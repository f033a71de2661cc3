import { ErrorCode, SigilError } from './errors.ts';

/** Key types Sigil issues and accepts. Anything else, RSA below 2048 included, is a compliance error. */
export const KEY_TYPES = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export const DEFAULT_KEY_TYPE: KeyType = 'ec-p256';

export function parseKeyType(text: string): KeyType {
  if ((KEY_TYPES as readonly string[]).includes(text)) return text as KeyType;
  throw new SigilError(
    ErrorCode.KEY_UNSUPPORTED,
    `unsupported key type ${JSON.stringify(text)}: use one of ${KEY_TYPES.join(', ')}`,
  );
}

/** A public key as seen in a certificate or CSR, reduced to what the key policy needs. */
export type PublicKeyFacts =
  | { readonly kind: 'ec'; readonly namedCurve: string }
  | { readonly kind: 'rsa'; readonly modulusBits: number }
  | { readonly kind: 'other'; readonly algorithm: string };

/** Applies the key policy of DESIGN.md section 2 and names the key type, or throws a compliance error. */
export function classifyPublicKey(facts: PublicKeyFacts): KeyType {
  switch (facts.kind) {
    case 'ec':
      if (facts.namedCurve === 'P-256') return 'ec-p256';
      if (facts.namedCurve === 'P-384') return 'ec-p384';
      throw new SigilError(ErrorCode.KEY_UNSUPPORTED, `unsupported EC curve ${facts.namedCurve}: use P-256 or P-384`);
    case 'rsa':
      if (facts.modulusBits < 2048) {
        throw new SigilError(
          ErrorCode.KEY_TOO_WEAK,
          `RSA key of ${facts.modulusBits} bits is too weak: use at least 2048 bits, or ECDSA P-256`,
        );
      }
      if (facts.modulusBits === 2048 || facts.modulusBits === 3072 || facts.modulusBits === 4096)
        return `rsa-${facts.modulusBits}`;
      throw new SigilError(
        ErrorCode.KEY_UNSUPPORTED,
        `unsupported RSA size ${facts.modulusBits}: use 2048, 3072 or 4096 bits`,
      );
    case 'other':
      throw new SigilError(
        ErrorCode.KEY_UNSUPPORTED,
        `unsupported key algorithm ${facts.algorithm}: use ECDSA P-256/P-384 or RSA 2048/3072/4096`,
      );
  }
}
