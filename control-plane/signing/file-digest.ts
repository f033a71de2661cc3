import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { ErrorCode, SigilError } from '../../common/errors.ts';
import { type DigestName, nodeDigestName } from './oids.ts';

/** The digest of a file, streamed: release archives and images can be far larger than memory. */
export async function fileDigest(path: string, digest: DigestName): Promise<Uint8Array> {
  const hash = createHash(nodeDigestName(digest));
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (err) {
    throw new SigilError(
      ErrorCode.INVALID_ARGUMENT,
      `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}): check the file name`,
      { cause: err },
    );
  }
  return new Uint8Array(hash.digest());
}
