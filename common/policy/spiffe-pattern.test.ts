import t from 'tap';
import { SegmentTrie } from './segment-trie.ts';
import { matchedPrefix, parseIdPattern, patternMatches, splitId } from './spiffe-pattern.ts';

const E = 'spiffe://example.org';

t.test('pattern matching, by the pattern and through the trie', async (t) => {
  const cases: { pattern: string; id: string; match: boolean }[] = [
    { pattern: `${E}/a/b`, id: `${E}/a/b`, match: true },
    { pattern: `${E}/a/b`, id: `${E}/a/b/c`, match: false },
    { pattern: `${E}/a/b`, id: `${E}/a`, match: false },
    { pattern: `${E}/a/*`, id: `${E}/a/x`, match: true },
    { pattern: `${E}/a/*`, id: `${E}/a`, match: false },
    { pattern: `${E}/a/*`, id: `${E}/a/x/y`, match: false },
    { pattern: `${E}/*/b`, id: `${E}/x/b`, match: true },
    { pattern: `${E}/*/b`, id: `${E}/x/c`, match: false },
    { pattern: `${E}/a/**`, id: `${E}/a/x`, match: true },
    { pattern: `${E}/a/**`, id: `${E}/a/x/y/z`, match: true },
    { pattern: `${E}/a/**`, id: `${E}/a`, match: false },
    { pattern: `${E}/**`, id: `${E}/anything/at/all`, match: true },
    { pattern: `${E}/*/**`, id: `${E}/a`, match: false },
    { pattern: `${E}/*/**`, id: `${E}/a/b`, match: true },
    { pattern: `${E}/a/*`, id: 'spiffe://other.org/a/x', match: false },
  ];
  for (const c of cases) {
    const parsed = parseIdPattern(c.pattern, 'example.org');
    if (!parsed.ok) {
      t.fail(`${c.pattern} refused: ${parsed.message}`);
      continue;
    }
    const id = splitId(c.id) ?? [];
    t.equal(patternMatches(parsed.pattern.segments, id), c.match, `${c.pattern} vs ${c.id}`);
    const trie = new SegmentTrie<string>();
    trie.insert(parsed.pattern.segments, c.pattern);
    t.same(trie.match(id, []), c.match ? [c.pattern] : [], `trie: ${c.pattern} vs ${c.id}`);
  }
});

t.test('the trie returns every matching pattern and nothing else', async (t) => {
  const trie = new SegmentTrie<number>();
  const patterns = [`${E}/ns/*/sa/api`, `${E}/ns/prod/**`, `${E}/ns/prod/sa/*`, `${E}/ns/dev/**`, `${E}/**`];
  for (const [i, p] of patterns.entries()) trie.insert(splitId(p) ?? [], i);
  t.same(trie.match(splitId(`${E}/ns/prod/sa/api`) ?? [], []).sort(), [0, 1, 2, 4]);
  t.same(trie.match(splitId(`${E}/ns/dev/sa/api`) ?? [], []).sort(), [0, 3, 4]);
  t.same(trie.match(splitId('spiffe://other.org/ns/prod/sa/api') ?? [], []), []);
});

t.test('matchedPrefix counts the segments a pattern accepts before it fails', async (t) => {
  const seg = (s: string) => splitId(s) ?? [];
  t.equal(matchedPrefix(seg(`${E}/ns/prod/sa/web`), seg(`${E}/ns/prod/sa/webx`)), 4);
  t.equal(matchedPrefix(seg(`${E}/ns/*`), seg(`${E}/ns/a/b`)), 3);
  t.equal(matchedPrefix(seg(`${E}/ns/**`), seg(`${E}/ns`)), 2);
  t.equal(matchedPrefix(seg(`${E}/a`), seg('spiffe://other.org/a')), 0);
});
