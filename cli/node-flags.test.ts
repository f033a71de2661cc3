import t from 'tap';
import { CONTROL_PLANE_NODE_FLAGS, missingNodeFlags, SIDECAR_NODE_FLAGS } from './node-flags.ts';

t.test('missingNodeFlags', async (t) => {
  const run = ['sidecar', 'run', '--config', 'x.yaml'];
  const cases: { name: string; argv: string[]; execArgv: string[]; env: Record<string, string>; want: string[] }[] = [
    { name: 'sidecar run gets the defaults', argv: run, execArgv: [], env: {}, want: [...SIDECAR_NODE_FLAGS] },
    {
      name: 'control-plane run gets its own',
      argv: ['control-plane', 'run'],
      execArgv: [],
      env: { SIGIL_SIDECAR_NODE_FLAGS: '' },
      want: [...CONTROL_PLANE_NODE_FLAGS],
    },
    {
      name: 'SIGIL_CONTROL_PLANE_NODE_FLAGS replaces them',
      argv: ['control-plane', 'run'],
      execArgv: [],
      env: { SIGIL_CONTROL_PLANE_NODE_FLAGS: '--max-semi-space-size=8' },
      want: ['--max-semi-space-size=8'],
    },
    { name: 'other commands get none', argv: ['certs', 'list'], execArgv: [], env: {}, want: [] },
    { name: 'help gets none', argv: ['sidecar', '--help'], execArgv: [], env: {}, want: [] },
    {
      name: 'a flag on the command line is kept (and ends the relaunch)',
      argv: run,
      execArgv: ['--max-semi-space-size=4', '--import', 'x.js'],
      env: {},
      want: [],
    },
    {
      name: 'a flag in NODE_OPTIONS is kept',
      argv: run,
      execArgv: [],
      env: { NODE_OPTIONS: '--enable-source-maps --max-semi-space-size=16' },
      want: [],
    },
    {
      name: 'SIGIL_SIDECAR_NODE_FLAGS replaces the defaults',
      argv: run,
      execArgv: [],
      env: { SIGIL_SIDECAR_NODE_FLAGS: ' --max-old-space-size=256  --max-semi-space-size=2 ' },
      want: ['--max-old-space-size=256', '--max-semi-space-size=2'],
    },
    {
      name: 'an empty SIGIL_SIDECAR_NODE_FLAGS turns them off',
      argv: run,
      execArgv: [],
      env: { SIGIL_SIDECAR_NODE_FLAGS: '' },
      want: [],
    },
  ];
  for (const c of cases) t.same(missingNodeFlags(c.argv, c.execArgv, c.env), c.want, c.name);
});
