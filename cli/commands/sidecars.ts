import type { Command } from 'commander';
import { type AdminFlags, withAdmin, withAdminOptions } from '../admin-connection.ts';
import { parseDuration } from '../../common/duration.ts';
import { type CliIo, printJson, printTable } from '../io.ts';

const time = (ms: unknown) => (Number(ms ?? 0) > 0 ? new Date(Number(ms)).toISOString() : null);

export function registerSidecarsCommands(program: Command, io: CliIo): void {
  const sidecars = program.command('sidecars').description('the fleet: every sidecar instance the control plane knows');
  withAdminOptions(sidecars.command('list'))
    .description('list sidecar instances: last contact, SVID, versions held and whether they are current')
    .option('--stale <duration>', "a sidecar not heard from for longer is stale (default: cp.yaml's fleet.staleAfter)")
    .option('--json', 'print JSON')
    .action(async (opts: AdminFlags & { stale?: string; json?: boolean }) => {
      const staleAfterMs = opts.stale === undefined ? 0 : parseDuration(opts.stale);
      const res = await withAdmin(io, opts, (api) => api.listSidecars(staleAfterMs));
      const held = (known: unknown, value: unknown, current: unknown) =>
        known === true ? { held: Number(value), current: current === true } : { held: null, current: false };
      const rows = res.sidecars.map((s) => ({
        spiffeId: s.spiffeId ?? '',
        instanceId: s.instanceId ?? '',
        sidecarVersion: s.sidecarVersion || null,
        svidSerial: s.svidSerial ?? '',
        svidNotAfter: time(s.svidNotAfterUnixMs),
        lastTrustFetchAt: time(s.lastTrustFetchAtUnixMs),
        lastRenewalAt: time(s.lastRenewalAtUnixMs),
        lastSeenAt: time(s.lastSeenUnixMs),
        bundle: held(s.versionsKnown, s.bundleSequence, s.bundleCurrent),
        crl: held(s.versionsKnown, s.crlNumber, s.crlCurrent),
        policy: held(s.versionsKnown, s.policyVersion, s.policyCurrent),
        stale: s.stale === true,
      }));
      if (opts.json) return printJson(io, rows);
      const version = (v: { held: number | null; current: boolean }) =>
        v.held === null ? '?' : `${v.held}${v.current ? '' : ' (old)'}`;
      printTable(
        io,
        ['SPIFFE ID', 'INSTANCE', 'STATE', 'LAST SEEN', 'SVID EXPIRES', 'BUNDLE', 'CRL', 'POLICY', 'VERSION'],
        rows.map((r) => [
          r.spiffeId,
          r.instanceId.slice(0, 13),
          r.stale ? 'STALE' : 'ok',
          r.lastSeenAt ?? '-',
          r.svidNotAfter ?? '-',
          version(r.bundle),
          version(r.crl),
          version(r.policy),
          r.sidecarVersion ?? '?',
        ]),
      );
    });
}
