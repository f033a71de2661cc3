// Child-process entry: a real control plane (the same ControlPlane and configuration loading as
// `sigil control-plane run`) that also takes bundle changes from its parent over IPC, because the admin API has
// no RPC that publishes a bundle. Running it in its own process lets the benchmark read its CPU from /proc.
// Usage (by control-plane-process.ts only): node control-plane-child.ts <config.yaml>, SIGIL_CA_PASSPHRASE set.
import { ControlPlane, loadControlPlaneConfig } from '../../control-plane/index.ts';
import type { ControlPlaneRequest, ControlPlaneReply } from './control-plane-process.ts';

const config = loadControlPlaneConfig({ configPath: process.argv[2], env: process.env, cwd: process.cwd() });
const controlPlane = new ControlPlane({ config, passphrase: process.env['SIGIL_CA_PASSPHRASE'] ?? '' });

let stopping = false;
function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  void controlPlane
    .stop()
    .catch(() => undefined)
    .then(() => process.exit(code));
}
process.once('SIGTERM', () => stop(0));
// The parent is gone (crashed or killed): nobody will ever stop us otherwise.
process.once('disconnect', () => stop(1));

function reply(message: ControlPlaneReply): void {
  process.send?.(message);
}

process.on('message', (message: ControlPlaneRequest) => {
  if (message.op !== 'add-trust-anchors') return;
  controlPlane.addTrustAnchors(message.pem).then(
    (bundleSequence) => reply({ id: message.id, ok: true, bundleSequence }),
    (err: unknown) => reply({ id: message.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});

try {
  await controlPlane.start();
} catch (err) {
  process.stderr.write(`control plane failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
