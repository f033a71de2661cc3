import { LineCounter, parseAllDocuments, parseDocument, isNode, type Document } from 'yaml';
import { z } from 'zod';
import { ErrorCode, SigilError } from './errors.ts';
import { parseDuration } from './duration.ts';
import { parseHostPort } from './address.ts';

/** One problem found in a configuration or policy document. */
export interface Finding {
  readonly path: string;
  readonly line: number | null;
  readonly message: string;
}

export function formatFindings(source: string, findings: readonly Finding[]): string {
  return findings
    .map((f) => `${source}${f.line === null ? '' : `:${f.line}`}: ${f.path === '' ? '' : `${f.path}: `}${f.message}`)
    .join('\n');
}

/** Thrown when a document has findings; `details.findings` counts them, the message lists them all. */
export function findingsError(source: string, findings: readonly Finding[], what = 'configuration'): SigilError {
  return new SigilError(
    ErrorCode.CONFIG_INVALID,
    `${source}: invalid ${what}, nothing was applied (${findings.length} finding${findings.length === 1 ? '' : 's'}):\n${formatFindings(source, findings)}`,
    { details: { findings: findings.length } },
  );
}

export interface ParsedYaml {
  readonly value: unknown;
  readonly lineOf: (path: readonly PropertyKey[]) => number | null;
}

/** Parses YAML text (one document) keeping a way back from a value path to its line. */
export function parseYaml(text: string, source: string): ParsedYaml {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  throwOnYamlErrors(doc, counter, source);
  return { value: doc.toJS(), lineOf: lineFinder(doc, counter) };
}

/** Parses a multi-document YAML stream (`---` separated). */
export function parseYamlStream(text: string, source: string): ParsedYaml[] {
  const counter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  if (!Array.isArray(docs)) return [];
  for (const doc of docs) throwOnYamlErrors(doc, counter, source);
  return docs.map((doc) => ({ value: doc.toJS(), lineOf: lineFinder(doc, counter) }));
}

function throwOnYamlErrors(doc: Document, counter: LineCounter, source: string): void {
  if (doc.errors.length === 0) return;
  const findings = doc.errors.map((e) => ({
    path: '',
    line: e.pos[0] === undefined ? null : counter.linePos(e.pos[0]).line,
    message: `not valid YAML: ${e.message.split('\n')[0]}`,
  }));
  throw findingsError(source, findings);
}

function lineFinder(doc: Document, counter: LineCounter): (path: readonly PropertyKey[]) => number | null {
  return (path) => {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) return counter.linePos(node.range[0]).line;
    }
    return null;
  };
}

/** Turns zod issues into findings with lines. */
export function zodFindings(error: z.ZodError, parsed: ParsedYaml): Finding[] {
  return error.issues.map((issue) => {
    const path = issue.path as PropertyKey[];
    const message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as { keys: string[] }).keys;
      return {
        path: path.join('.'),
        line: parsed.lineOf([...path, keys[0] ?? '']),
        message: `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => JSON.stringify(k)).join(', ')}`,
      };
    }
    return { path: path.join('.'), line: parsed.lineOf(path), message };
  });
}

/** Validates one YAML document against a zod schema, throwing every finding at once. */
export function validateYaml<S extends z.ZodType>(schema: S, text: string, source: string): z.output<S> {
  const parsed = parseYaml(text, source);
  const result = schema.safeParse(parsed.value ?? {});
  if (!result.success) throw findingsError(source, zodFindings(result.error, parsed));
  return result.data;
}

/** A schema field of text that `parse` turns into a value; its error message becomes the finding. */
function parsedField<T>(parse: (text: string) => T) {
  return z.string().transform((text, ctx) => {
    try {
      return parse(text);
    } catch (err) {
      ctx.issues.push({ code: 'custom', message: (err as Error).message, input: text });
      return z.NEVER;
    }
  });
}

/** A human duration string (`15m`) in a schema, parsed once into milliseconds. */
export const durationMs = parsedField(parseDuration);

/** A `host:port` listen or upstream address in a schema. */
export const hostPortField = parsedField((text) => parseHostPort(text));
