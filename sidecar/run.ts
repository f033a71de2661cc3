import { ErrorCode, SigilError } from '../common/errors.ts';

export async function runSidecarFromConfig(_options: { configPath: string; joinToken?: string | undefined; env: Readonly<Record<string, string | undefined>>; cwd: string }): Promise<void> {
  throw new SigilError(ErrorCode.UNAVAILABLE, 'sidecar run is not wired yet');
}
