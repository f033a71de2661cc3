import t from 'tap';
import { ErrorCode } from '../errors.ts';
import {
  decodeTrustDomainToken,
  encodeTrustDomainToken,
  EVENT_KINDS,
  eventSubject,
  eventWildcard,
  parseEventSubject,
} from './subjects.ts';

t.test('trust domains become one reversible subject token', async (t) => {
  const cases: [string, string][] = [
    ['example.org', 'example%2Eorg'],
    ['a.b.c', 'a%2Eb%2Ec'],
    ['prod_eu-1.example.org', 'prod_eu-1%2Eexample%2Eorg'],
    ['example_org', 'example_org'],
    ['localhost', 'localhost'],
  ];
  for (const [td, token] of cases) {
    t.equal(encodeTrustDomainToken(td), token, `encode ${td}`);
    t.equal(decodeTrustDomainToken(token), td, `decode ${token}`);
    t.notMatch(token, /[.*> ]/, `${token} is a single NATS token`);
  }
  t.not(encodeTrustDomainToken('example.org'), encodeTrustDomainToken('example_org'), "'.' and '_' stay distinct");
});

t.test('only tokens the encoder produces decode', async (t) => {
  for (const token of ['', 'example.org', 'example%2eorg', 'a%2', 'a%41', 'a%25b', 'Example', 'a%2E%2Eb%', '*', '>']) {
    t.throws(() => decodeTrustDomainToken(token), { code: ErrorCode.INVALID_ARGUMENT }, JSON.stringify(token));
  }
});

t.test('invalid trust domains are refused, not escaped', async (t) => {
  for (const td of ['', 'Example.org', 'a b', 'a*b', 'a>b', 'a%b', 'a:443']) {
    t.throws(() => eventSubject(td, 'bundle'), { code: ErrorCode.SPIFFE_ID_INVALID }, JSON.stringify(td));
  }
});

t.test('subjects and the wildcard', async (t) => {
  t.equal(eventSubject('example.org', 'bundle'), 'sigil.example%2Eorg.bundle');
  t.equal(eventSubject('example.org', 'revocation'), 'sigil.example%2Eorg.revocation');
  t.equal(eventWildcard('example.org'), 'sigil.example%2Eorg.>');
  for (const kind of EVENT_KINDS) {
    t.same(parseEventSubject(eventSubject('a.b', kind)), { trustDomain: 'a.b', kind }, `round trip ${kind}`);
  }
});

t.test('foreign subjects do not parse', async (t) => {
  for (const s of [
    'sigil.example.org.bundle',
    'sigil.example%2Eorg.other',
    'other.example%2Eorg.bundle',
    'sigil.example%2Eorg',
    'sigil.example%2eorg.bundle',
    '',
  ]) {
    t.equal(parseEventSubject(s), undefined, JSON.stringify(s));
  }
});
