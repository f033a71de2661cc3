import type { CaKeyRef, CaMetadata, TokenLocation } from './ca-files.ts';

/** Where one CA key lives, for `sigil ca show` and `sigil check`: a kind, and words an operator can act on. */
export interface KeyLocation {
  readonly store: 'file' | 'pkcs11';
  readonly where: string;
}

export interface GenerationKeyLocations {
  readonly root: KeyLocation;
  readonly intermediate: KeyLocation;
}

function token(location: TokenLocation): string {
  return location.label === undefined ? `token in slot ${location.slot}` : `token "${location.label}"`;
}

function inToken(location: TokenLocation, ref: CaKeyRef | undefined, offline: boolean): KeyLocation {
  const key = ref ? `, key "${ref.label}" (id ${ref.id})` : '';
  return { store: 'pkcs11', where: `PKCS#11 ${token(location)}${offline ? ' (offline)' : ''}${key}` };
}

/** The key locations of the CA in force, or of the prepared one; pure, from ca.json alone. */
export function caKeyLocations(meta: CaMetadata, generation: 'current' | 'next' = 'current'): GenerationKeyLocations {
  const next = generation === 'next' ? meta.next : undefined;
  const store = meta.keyStore;
  if (store) {
    const refs = next?.keys ?? meta.keys;
    const rootRef = refs?.root ?? meta.keys?.root;
    return {
      root: inToken(store.rootToken ?? store.token, rootRef, store.rootToken !== undefined),
      intermediate: inToken(store.token, refs?.intermediate, false),
    };
  }
  const files = next ?? meta.files;
  const rootOffline = next ? next.rootKeyOffline : meta.rootKeyOffline === true;
  return {
    root: {
      store: 'file',
      where: rootOffline ? 'encrypted file kept offline (outside the data dir)' : `encrypted file ${files.rootKey}`,
    },
    intermediate: { store: 'file', where: `encrypted file ${files.intermediateKey}` },
  };
}
