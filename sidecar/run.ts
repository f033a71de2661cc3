// Entry point of `sigil sidecar run`: the sidecar process itself. Imported instead of index.ts, whose re-exports
// (the event channel with its NATS client, among others) would load what a sidecar without them never uses.
import { readFileSync } from 'node:fs';
import { ErrorCode, SigilError } from '../common/errors.ts';
import { loadSidecarConfig } from './config.ts';
import { Sidecar } from './sidecar.ts';

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new SigilError(
      ErrorCode.CONFIG_INVALID,
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`,
    );
  }
}

/**
 * `sigil sidecar run`: starts a sidecar from its config file and runs it until SIGTERM/SIGINT, then drains.
 * The join token comes from the flag, SIGIL_JOIN_TOKEN, or the config's joinToken.file, in that order.
 */
export async function runSidecarFromConfig(options: {
  configPath: string;
  joinToken?: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}): Promise<void> {
  const config = loadSidecarConfig(options.configPath, options.env);
  const bootstrapBundlePem = readText(config.controlPlane.bundlePath, 'trust bundle');
  const joinToken = (): string => {
    const token =
      options.joinToken ??
      options.env['SIGIL_JOIN_TOKEN'] ??
      (config.joinTokenFile ? readText(config.joinTokenFile, 'join token file').trim() : undefined);
    if (!token)
      throw new SigilError(
        ErrorCode.TOKEN_INVALID,
        'no join token: set joinToken.file in the config, SIGIL_JOIN_TOKEN, or --join-token (create one with sigil token create)',
      );
    return token;
  };
  const sidecar = new Sidecar({ config, bootstrapBundlePem, joinToken });
  const signalled = new Promise<'signal'>((resolve) => {
    process.once('SIGTERM', () => resolve('signal'));
    process.once('SIGINT', () => resolve('signal'));
  });
  // start() waits as long as the control plane is away; a signal meanwhile stops the wait, not the process.
  const started = sidecar.start().then(() => 'started' as const);
  if ((await Promise.race([started, signalled])) === 'started') await signalled;
  await sidecar.stop();
  await started.catch(() => undefined);
}
