#!/usr/bin/env node
import { missingNodeFlags, relaunchWithNodeFlags } from './node-flags.ts';

// Before anything else loads: a relaunch with V8 flags (sidecar run) replaces this process.
relaunchWithNodeFlags(missingNodeFlags(process.argv.slice(2), process.execArgv, process.env));
const { runCli } = await import('./program.ts');
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
});
