// Options checked in the page against the daemon's JSON Schema (options.schema.json, the same
// file as docs/options.schema.json), with @cfworker/json-schema: small, no dependencies, no
// eval (so it runs under a strict Content-Security-Policy), drafts up to 2020-12.
import { Validator } from '@cfworker/json-schema';

let validator = null;

async function load() {
  if (!validator) {
    const response = await fetch(new URL('../options.schema.json', import.meta.url));
    if (!response.ok) throw new Error(`options.schema.json: HTTP ${response.status}`);
    validator = new Validator(await response.json(), '2020-12', false);
  }
  return validator;
}

// Keywords that only say "something below failed"; the sentences are in the errors under them.
const WRAPPERS = new Set(['properties', 'anyOf', 'oneOf', 'allOf', '$ref', 'items',
  'prefixItems', 'additionalProperties', 'additionalItems', 'unevaluatedProperties']);

function where(location) {
  const path = location.replace(/^#\/?/, '').split('/').filter(Boolean).join('.');
  return path || 'options';
}

/**
 * Problems with a preset's options text, as sentences (none: it is valid). A preset may not
 * name another preset (the table refuses it), so `preset` is refused here too.
 */
export async function optionsProblems(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return [`The options are not JSON: ${error.message}`];
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return ['The options must be a JSON object, like {"padding_percent": 0.1}.'];
  }
  if ('preset' in value) return ['A preset cannot name another preset: remove "preset".'];
  const result = (await load()).validate(value);
  if (result.valid) return [];
  const leaves = result.errors.filter((e) => !WRAPPERS.has(e.keyword));
  const located = new Set(leaves.filter((e) => !/Expected "null"/.test(e.error))
    .map((e) => e.instanceLocation));
  const problems = [];
  for (const error of leaves) {
    // anyOf [thing, null]: the "not null" branch says nothing when the other branch spoke.
    if (/Expected "null"/.test(error.error) && located.has(error.instanceLocation)) continue;
    const sentence = error.keyword === 'false'
      ? `${where(error.instanceLocation)} is not an option.`
      : `${where(error.instanceLocation)}: ${error.error}`;
    if (!problems.includes(sentence)) problems.push(sentence);
  }
  return problems.length ? problems : ['The options do not match the schema.'];
}
