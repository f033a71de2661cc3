import t from 'tap';
import { ControlPlaneMetrics } from './metrics.ts';

t.test('process metrics carry the sigil_ prefix once (not sigil_process_process_*)', async (t) => {
  const { body } = await new ControlPlaneMetrics({ processMetrics: true }).render();
  t.match(body, /^sigil_process_cpu_user_seconds_total /m);
  t.match(body, /^sigil_nodejs_heap_size_used_bytes /m);
  t.notMatch(body, /process_process_/);
});
