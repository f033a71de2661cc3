import type { google } from '../../proto/workload.ts';

/** JSON (JWT claims) as google.protobuf.Struct, the type ValidateJWTSVIDResponse.claims has in the specification. */
export function toStruct(object: Readonly<Record<string, unknown>>): google.protobuf.IStruct {
  return { fields: Object.fromEntries(Object.entries(object).map(([k, v]) => [k, toValue(v)])) };
}

function toValue(value: unknown): google.protobuf.IValue {
  if (value === null || value === undefined) return { nullValue: 0 };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  if (typeof value === 'object') return { structValue: toStruct(value as Record<string, unknown>) };
  return { stringValue: String(value) };
}
