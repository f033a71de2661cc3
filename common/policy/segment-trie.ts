import { ONE_SEGMENT, REST } from './spiffe-pattern.ts';

interface TrieNode<T> {
  readonly children: Map<string, TrieNode<T>>;
  star: TrieNode<T> | undefined;
  /** Values whose pattern ends exactly here. */
  readonly here: T[];
  /** Values whose pattern ends here with `**`: they match one or more further segments. */
  readonly rest: T[];
}

const node = <T>(): TrieNode<T> => ({ children: new Map(), star: undefined, here: [], rest: [] });

/**
 * A trie over SPIFFE ID segments for patterns. Lookup cost depends on the depth of the ID and the wildcards along
 * its path, not on how many patterns are stored.
 */
export class SegmentTrie<T> {
  readonly #root: TrieNode<T> = node();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  insert(segments: readonly string[], value: T): void {
    let at = this.#root;
    for (const [i, s] of segments.entries()) {
      if (s === REST && i > 0) {
        at.rest.push(value);
        this.#size++;
        return;
      }
      let next: TrieNode<T> | undefined;
      if (s === ONE_SEGMENT && i > 0) next = at.star ??= node();
      else {
        next = at.children.get(s);
        if (!next) at.children.set(s, (next = node()));
      }
      at = next;
    }
    at.here.push(value);
    this.#size++;
  }

  /** Appends every value whose pattern matches `segments` to `out` (in no particular order). */
  match(segments: readonly string[], out: T[]): T[] {
    if (this.#size > 0) collect(this.#root, segments, 0, out);
    return out;
  }
}

function collect<T>(at: TrieNode<T>, segments: readonly string[], i: number, out: T[]): void {
  if (i === segments.length) {
    for (const v of at.here) out.push(v);
    return;
  }
  for (const v of at.rest) out.push(v);
  const s = segments[i] as string;
  const child = at.children.get(s);
  if (child) collect(child, segments, i + 1, out);
  if (at.star && i > 0) collect(at.star, segments, i + 1, out);
}
