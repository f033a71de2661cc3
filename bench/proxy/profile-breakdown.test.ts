import t from 'tap';
import { breakdown, parseCpuProfile, parsePerfScript } from './profile-breakdown.ts';

const NODE = '/opt/node/bin/node';
const perfScript = [
  'node-MainThread 100   1.000000:     500250 cpu-clock:ppp: ',
  '\t    7f52181c981a JS:*forward file:///repo/sidecar/proxy/pipe.ts:101:21+0x9a (/tmp/perf-100.map)',
  `\t          4bae0c node::InternalMakeCallback+0x25c (${NODE})`,
  '',
  'node-MainThread 100   1.000500:     500250 cpu-clock:ppp: ',
  '\t    ffffffff8100 tcp_sendmsg_locked+0x10 ([kernel.kallsyms])',
  `\t          f838f __GI___libc_write+0x4f (/usr/lib/x86_64-linux-gnu/libc.so.6)`,
  '',
  'node-MainThread 100   1.001000:     500250 cpu-clock:ppp: ',
  `\t          aa0000 aes_gcm_enc_update_vaes_avx2+0x20 (${NODE})`,
  `\t          aa1000 SSL_write+0x20 (${NODE})`,
  '',
  'node-MainThread 100   1.001500:     500250 cpu-clock:ppp: ',
  `\t          bb0000 v8::internal::Scavenger::ScavengePage+0x20 (${NODE})`,
  '',
].join('\n');

t.test('perf script samples are counted by the category of their leaf, GC wherever it is on the stack', async (t) => {
  const result = breakdown(parsePerfScript(perfScript), 10);
  t.equal(result.samples, 4);
  t.same(Object.fromEntries(result.categories.map((c) => [c.category, c.share])), {
    'Sigil JS': 0.25,
    'kernel (syscalls, loopback TCP, scheduling)': 0.25,
    'OpenSSL (SSL_read/SSL_write, AES-GCM, record layer)': 0.25,
    'GC (V8 heap, all threads)': 0.25,
  });
  t.equal(result.inclusive.find((f) => f.name === 'node::InternalMakeCallback')?.share, 0.25);
  t.equal(
    result.self.find((f) => f.name === 'SSL_write'),
    undefined,
    'SSL_write is not a leaf anywhere',
  );
});

t.test('a .cpuprofile becomes stacks: JS by its URL, native time and GC as V8 names them', async (t) => {
  const profile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 3, 4] },
      { id: 2, callFrame: { functionName: 'forward', url: 'file:///repo/sidecar/proxy/pipe.ts', lineNumber: 100 } },
      { id: 3, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1 } },
      { id: 4, callFrame: { functionName: 'onStreamRead', url: 'node:internal/stream_base_commons', lineNumber: 170 } },
    ],
    samples: [2, 2, 3, 4],
  };
  const result = breakdown(parseCpuProfile(JSON.stringify(profile)), 10);
  t.same(Object.fromEntries(result.categories.map((c) => [c.category, c.share])), {
    'Sigil JS': 0.5,
    'GC (V8 heap, all threads)': 0.25,
    'Node JS (streams, net, tls, timers)': 0.25,
  });
});
