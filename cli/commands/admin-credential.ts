import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseKeyType } from '../../common/key-type.ts';
import { generateKeyPair, privateKeyPemOf } from '../../common/key-pair.ts';
import { makeCsr } from '../../common/csr-builder.ts';
import { derToPem } from '../../common/trust-bundle.ts';
import { adminId } from '../../common/spiffe-id.ts';
import type { AdminApi } from '../../control-plane/admin.ts';
import { writeNewFile } from '../../control-plane/admin.ts';

/**
 * `sigil admin create`: the key is generated here and never leaves this machine; the control plane certifies it.
 * The directory is written like `<data-dir>/admin` (svid.pem with the chain, key.pem 0600, bundle.pem), and
 * nothing existing is overwritten.
 */
export async function createAdminCredential(
  api: AdminApi,
  request: { name: string; out: string; keyType: string },
): Promise<{ spiffeId: string; serial: string; notAfter: string }> {
  const keyType = parseKeyType(request.keyType);
  const { trustDomain } = await api.showCa();
  const spiffeId = adminId(trustDomain, request.name);
  const keys = await generateKeyPair(keyType);
  const csr = await makeCsr({ spiffeId, keys });
  // The directory first: a name the control plane refuses must not leave a key behind, and a directory we cannot
  // write must be found before a certificate is minted for nothing.
  await mkdir(request.out, { recursive: true, mode: 0o700 });
  const keyPath = join(request.out, 'key.pem');
  await writeNewFile(keyPath, privateKeyPemOf(keys.privateKey), 0o600);
  let created: Awaited<ReturnType<AdminApi['createAdmin']>>;
  try {
    created = await api.createAdmin(request.name, csr);
  } catch (err) {
    const { rm } = await import('node:fs/promises');
    await rm(keyPath, { force: true });
    throw err;
  }
  await writeNewFile(join(request.out, 'svid.pem'), created.svidChain.map(derToPem).join(''), 0o644);
  await writeNewFile(join(request.out, 'bundle.pem'), created.roots.map(derToPem).join(''), 0o644);
  return {
    spiffeId: created.admin?.spiffeId ?? spiffeId,
    serial: created.admin?.serial ?? '',
    notAfter: new Date(Number(created.admin?.notAfterUnixMs ?? 0)).toISOString(),
  };
}
