import t from 'tap';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../../common/errors.ts';
import { makeCert } from '../../test/fixtures/cert-factory.ts';
import { readX509PopDevice } from './x509pop-device.ts';

const dir = await mkdtemp(join(tmpdir(), 'sigil-device-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
const cert = await makeCert({ subject: 'CN=node-1', keyUsage: ['digitalSignature'] });
const certFile = join(dir, 'device.pem');
const keyFile = join(dir, 'device.key');
await writeFile(certFile, cert.pem);
await writeFile(keyFile, cert.key.keyPem, { mode: 0o600 });

t.test('reads the chain and key; a key readable by others is refused without its content', async (t) => {
  const device = readX509PopDevice({ certFile, keyFile });
  t.same(Buffer.from(device.chainDer[0] ?? []), Buffer.from(cert.der));
  t.equal(device.key.type, 'private');
  await chmod(keyFile, 0o644);
  const err = t.throws(() => readX509PopDevice({ certFile, keyFile }), {
    code: ErrorCode.CONFIG_INVALID,
    message: /readable by group or others \(mode 644\): chmod 600 it/,
  });
  t.notMatch(String((err as Error | undefined)?.message), /PRIVATE KEY/);
  await chmod(keyFile, 0o600);
  t.throws(
    () => readX509PopDevice({ certFile: join(dir, 'missing.pem'), keyFile }),
    /cannot read x509pop\.certFile .*missing\.pem/,
  );
  t.throws(() => readX509PopDevice({ certFile: keyFile, keyFile }), /holds no PEM certificate/);
});
