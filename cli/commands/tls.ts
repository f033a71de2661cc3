import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseDuration } from '../../common/duration.ts';
import { type CliIo, printJson } from '../io.ts';

interface TlsCheckFlags {
  readonly sni?: string;
  readonly ca?: string;
  readonly timeout: string;
  readonly json?: boolean;
}

export function registerTlsCommands(program: Command, io: CliIo): void {
  const tlsCommand = program.command('tls').description('TLS endpoint tools');
  tlsCommand
    .command('check')
    .description('probe a TLS endpoint with real handshakes and grade its configuration (A+..F, with every reason)')
    .argument('<endpoint>', 'HOST:PORT')
    .option('--sni <name>', 'server name to send and to match the certificate against (default: the host)')
    .option('--ca <file>', 'PEM file of roots to trust instead of the system store')
    .option('--timeout <duration>', 'bound on each handshake', '5s')
    .option('--json', 'print JSON')
    .action(async (endpoint: string, opts: TlsCheckFlags) => {
      const { probeTls, gradeTls, parseHostPort } = await import('../../control-plane/lifecycle.ts');
      const { host, port } = parseHostPort(endpoint);
      const timeoutMs = parseDuration(opts.timeout);
      const ca = opts.ca ? [await readFile(resolve(io.cwd, opts.ca), 'utf8')] : undefined;
      const report = await probeTls({
        host,
        port,
        timeoutMs,
        ...(opts.sni ? { servername: opts.sni } : {}),
        ...(ca ? { ca } : {}),
      });
      const grade = gradeTls(report, Date.now());
      const leaf = grade.leaf;
      const summary = {
        endpoint: report.endpoint,
        servername: report.servername,
        grade: grade.grade,
        protocols: report.protocols,
        suites: report.suites,
        groups: report.groups,
        certificate: leaf && {
          subject: leaf.subject,
          issuer: leaf.issuer,
          serial: leaf.serial,
          key: `${leaf.keyAlgorithm} ${leaf.keyBits}`,
          signature: leaf.signatureAlgorithm,
          dnsNames: leaf.dnsNames,
          notAfter: new Date(leaf.notAfter).toISOString(),
          daysLeft: Math.floor((leaf.notAfter - Date.now()) / 86_400_000),
          sha256: leaf.fingerprintSha256,
        },
        chain: {
          served: report.chain.length,
          trusted: report.chainTrusted,
          error: report.chainError,
          nameMatches: report.nameMatches,
        },
        ocspStapled: report.ocspStapled,
        clientCertificate: { requested: report.clientCertRequested },
        hsts: report.hsts,
        findings: grade.findings,
        cappedBy: grade.reasons.map((r) => ({ cap: r.cap, ruleId: r.finding.ruleId })),
      };
      if (opts.json) return printJson(io, summary);
      const lines = [
        `${summary.endpoint} (SNI ${summary.servername})  grade ${summary.grade}`,
        `protocols     ${report.protocols.join(', ')}`,
        ...Object.entries(report.suites).map(
          ([p, list]) => `${`suites ${p}`.padEnd(13)} ${(list ?? []).map((s) => s.name).join(', ')}`,
        ),
        `groups        ${report.groups.join(', ') || '-'}`,
        leaf
          ? `certificate   ${leaf.subject}, ${summary.certificate?.key}, ${leaf.signatureAlgorithm}, expires ${summary.certificate?.notAfter} (${summary.certificate?.daysLeft} days)`
          : 'certificate   none',
        `chain         ${report.chain.length} served, ${report.chainTrusted ? 'trusted' : `NOT trusted (${report.chainError})`}, ${report.nameMatches ? 'valid' : 'NOT valid'} for ${report.servername}`,
        `ocsp stapling ${report.ocspStapled ? 'yes' : 'no'}`,
        `client cert   ${report.clientCertRequested ? 'requested (mutual TLS)' : 'not requested'}`,
        `hsts          ${report.hsts === null ? 'not HTTP' : report.hsts || 'absent'}`,
        ...grade.findings.map((f) => `${f.severity.toUpperCase().padEnd(8)} ${f.ruleId}: ${f.message}`),
      ];
      io.stdout.write(`${lines.join('\n')}\n`);
    });
}
