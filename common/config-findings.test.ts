import t from 'tap';
import { z } from 'zod';
import { ErrorCode, isSigilError } from './errors.ts';
import { durationMs, parseYamlStream, validateYaml } from './config-findings.ts';

const schema = z.strictObject({
  name: z.string(),
  ttl: durationMs.default(60_000),
  nested: z.strictObject({ port: z.number().int().min(1).max(65535) }).optional(),
});

t.test('valid documents come back typed, durations in ms', async (t) => {
  t.same(validateYaml(schema, 'name: a\nttl: 15m\n', 'cp.yaml'), { name: 'a', ttl: 900_000 });
  t.same(validateYaml(schema, 'name: b\n', 'cp.yaml'), { name: 'b', ttl: 60_000 });
});

t.test('every finding is listed with its line', async (t) => {
  const text = 'name: a\nttl: 15 minutes\nnested:\n  port: 70000\n  extra: 1\nbogus: true\n';
  try {
    validateYaml(schema, text, 'cp.yaml');
    t.fail('accepted an invalid document');
  } catch (err) {
    t.ok(isSigilError(err, ErrorCode.CONFIG_INVALID));
    const message = (err as Error).message;
    t.match(message, /cp\.yaml:2: ttl: invalid duration "15 minutes"/);
    t.match(message, /cp\.yaml:4: nested\.port: /);
    t.match(message, /cp\.yaml:5: nested: unknown key "extra"/);
    t.match(message, /cp\.yaml:6: unknown key "bogus"/);
    t.match(message, /4 findings/);
  }
});

t.test('YAML syntax errors and duplicate keys are findings too', async (t) => {
  t.throws(() => validateYaml(schema, 'name: [unclosed\n', 'x.yaml'), {
    code: ErrorCode.CONFIG_INVALID,
    message: /not valid YAML/,
  });
  t.throws(() => validateYaml(schema, 'name: a\nname: b\n', 'x.yaml'), {
    code: ErrorCode.CONFIG_INVALID,
    message: /x\.yaml:2/,
  });
});

t.test('multi-document streams keep per-document line numbers', async (t) => {
  const docs = parseYamlStream('a: 1\n---\nb: 2\nc: 3\n', 'p.yaml');
  t.equal(docs.length, 2);
  t.equal(docs[1]?.lineOf(['c']), 4);
});
