import t from 'tap';
import { ErrorCode, isSigilError } from '../../common/errors.ts';
import { parseRevocationReason, reasonCode, reasonName, REVOCATION_REASON_NAMES } from './reason-codes.ts';

t.test('every RFC 5280 reason name maps to its code and back', async (t) => {
  const table: [string, number][] = [
    ['unspecified', 0],
    ['keyCompromise', 1],
    ['cACompromise', 2],
    ['affiliationChanged', 3],
    ['superseded', 4],
    ['cessationOfOperation', 5],
    ['certificateHold', 6],
    ['privilegeWithdrawn', 9],
    ['aACompromise', 10],
  ];
  t.same(
    [...REVOCATION_REASON_NAMES],
    table.map(([name]) => name),
    'exactly these names, in code order',
  );
  for (const [name, code] of table) {
    const reason = parseRevocationReason(name);
    t.equal(reasonCode(reason), code, `${name} is ${code}`);
    t.equal(reasonName(code), name, `${code} is ${name}`);
  }
});

t.test('an empty reason is unspecified', async (t) => {
  t.equal(parseRevocationReason(''), 'unspecified');
});

t.test('codes Sigil does not issue have no name', async (t) => {
  for (const code of [7, 8, 11, -1]) t.equal(reasonName(code), undefined, `code ${code}`);
});

t.test('unknown names are refused, listing the valid ones', async (t) => {
  for (const name of [
    'keycompromise',
    'KeyCompromise',
    'key-compromise',
    'removeFromCRL',
    'toString',
    '__proto__',
    ' keyCompromise',
    '1',
  ]) {
    try {
      parseRevocationReason(name);
      t.fail(`${JSON.stringify(name)} was accepted`);
    } catch (err) {
      t.ok(isSigilError(err, ErrorCode.INVALID_ARGUMENT), `${JSON.stringify(name)}: INVALID_ARGUMENT`);
      t.match((err as Error).message, /use one of unspecified, keyCompromise, cACompromise, .*aACompromise/);
    }
  }
});
