import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import acme from 'acme-client';
import t from 'tap';
import { createLogger } from '../common/logger.ts';
import { certificate, startAcmeWorld } from './fixtures/acme-fixture.ts';

// A pebble that requires external account binding and answers 15 % of valid nonces with badNonce.
const HMAC = 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W';
let logged = '';
const logger = createLogger({
  component: 'control-plane',
  level: 'debug',
  destination: new Writable({
    write(chunk, _enc, done) {
      logged += String(chunk);
      done();
    },
  }),
});
const world = await startAcmeWorld({
  eabKeys: { 'kid-1': HMAC },
  pebbleEnv: { PEBBLE_WFE_NONCEREJECT: '15' },
  logger,
});
t.teardown(() => world.stop());
const hmacFile = join(world.dir, 'eab.hmac');
await writeFile(hmacFile, `${HMAC}\n`, { mode: 0o600 });

t.test('without EAB the account is not even attempted: the directory says it is required', async (t) => {
  world.certificates.push(
    certificate(world, { name: 'bare', names: ['bare.example.test'], challenge: { type: 'http-01' } }),
  );
  t.teardown(() => void world.certificates.pop());
  await t.rejects(world.service.renew('bare', { force: true }), {
    code: 'SIGIL_ERR_CONFIG_INVALID',
    message: /requires external account binding: give account pebble eab: \{ keyId, hmacFile \}/,
  });
});

t.test('a missing HMAC file is a configuration error naming the file', async (t) => {
  world.accounts.splice(0, 1, { ...world.account, eab: { keyId: 'kid-1', hmacFile: join(world.dir, 'nope') } });
  world.certificates.push(
    certificate(world, { name: 'nofile', names: ['nofile.example.test'], challenge: { type: 'http-01' } }),
  );
  t.teardown(() => void world.certificates.pop());
  await t.rejects(world.service.renew('nofile', { force: true }), {
    code: 'SIGIL_ERR_CONFIG_INVALID',
    message: /EAB HMAC file of account pebble: .*nope \(ENOENT\)/,
  });
});

t.test('with EAB from a file the account registers and certificates are issued despite badNonce answers', async (t) => {
  world.accounts.splice(0, 1, { ...world.account, eab: { keyId: 'kid-1', hmacFile } });
  const bound = certificate(world, { name: 'bound', names: ['bound.example.test'], challenge: { type: 'http-01' } });
  world.certificates.push(bound);
  // Several orders, each a dozen signed requests: with 15 % of nonces refused, retries are all but certain.
  let badNonceRetries = 0;
  acme.setLogger((line) => {
    if (line.startsWith('Caught invalid nonce error')) badNonceRetries++;
  });
  t.teardown(() => acme.setLogger(() => {}));
  for (let i = 0; i < 3; i++) t.equal((await world.service.renew('bound', { force: true })).result, 'renewed');
  t.ok(badNonceRetries > 0, `badNonce answers were retried with a fresh nonce (${badNonceRetries})`);
  t.match(await world.opensslVerify(bound.install.dir), /OK/);
  t.notOk(logged.includes(HMAC), 'the HMAC key is never logged');
  t.notOk((await world.store.getMeta('acme.account.pebble'))?.includes(HMAC), 'nor stored');
  t.match(logged, /ACME account registered/);
});
