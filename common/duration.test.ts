import t from 'tap';
import { ErrorCode } from './errors.ts';
import { formatDuration, parseDuration } from './duration.ts';

t.test('parses human durations', async (t) => {
  const cases: Array<[string, number]> = [
    ['500ms', 500],
    ['20s', 20_000],
    ['15m', 900_000],
    ['24h', 86_400_000],
    ['30d', 2_592_000_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    [' 2m ', 120_000],
  ];
  for (const [text, ms] of cases) t.equal(parseDuration(text), ms, text);
});

t.test('refuses ambiguous or malformed durations with advice', async (t) => {
  for (const text of ['', '60', '15 m', '-5m', '0s', 'm', '5x', '1h-30m', '10mm']) {
    t.throws(
      () => parseDuration(text),
      { code: ErrorCode.DURATION_INVALID, message: /use a positive number with a unit/ },
      JSON.stringify(text),
    );
  }
});

t.test('formats with the largest exact unit', async (t) => {
  t.same([86_400_000, 3_600_000, 900_000, 20_000, 1_500].map(formatDuration), ['1d', '1h', '15m', '20s', '1500ms']);
});
