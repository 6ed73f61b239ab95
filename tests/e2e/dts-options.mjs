// Reads the options and their documented defaults from pkg-template/index.d.ts: every property of
// GuardOptions and of the option interfaces it nests, as dotted paths (`retry.maxRetries`), with
// the text of its `@default` tag (null when it has none). Used by package.test.mjs to check the
// README's options table, which must list every path with the same default.
import { readFileSync } from 'node:fs';

const NESTED = {
  GuardOptions: '',
  RateLimitOptions: 'rateLimit.',
  CategoryOptions: 'categories.<name>.',
  RetryOptions: 'retry.',
  BreakerOptions: 'breaker.',
  BreakerSpecOptions: ['breaker.', 'breaker.services.<service>.'],
  HeapOptions: 'heap.',
  CacheOptions: 'cache.',
  ReportOptions: 'report.',
  UploaderOptions: 'uploader.',
};

/** Splits an interface body into its top-level members: [name, doc, typeText]. */
function members(body) {
  const out = [];
  let depth = 0, doc = '', buf = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (depth === 0 && body.startsWith('/**', i)) {
      const end = body.indexOf('*/', i);
      doc = body.slice(i, end + 2);
      i = end + 1;
      continue;
    }
    if (c === '{') depth++;
    if (c === '}') depth--;
    buf += c;
    if (depth === 0 && c === ';') {
      const m = buf.trim().match(/^(?:readonly\s+)?(\w+)\??:\s*([\s\S]*);$/);
      if (m) out.push([m[1], doc, m[2]]);
      buf = '';
      doc = '';
    }
  }
  return out;
}

const defaultOf = (doc) => {
  const m = doc.match(/@default\s+([^*]*?)\s*(?:\*\/|$)/);
  return m ? m[1].trim() : null;
};

export function dtsOptions(file) {
  const src = readFileSync(file, 'utf8');
  const rows = new Map();
  for (const [iface, prefixes] of Object.entries(NESTED)) {
    const m = src.match(new RegExp(`export interface ${iface}(?:<[^>]*>)?(?: extends (\\w+))? \\{([\\s\\S]*?)\\n\\}`));
    if (!m) throw new Error(`index.d.ts: no interface ${iface}`);
    for (const prefix of [].concat(prefixes)) {
      const list = members(m[2]);
      if (m[1] && !(m[1] in NESTED)) throw new Error(`index.d.ts: ${iface} extends ${m[1]}; declare its members (and their defaults) itself`);
      for (const [name, doc, type] of list) {
        // Object-typed members written inline (jobs, queue) nest their own documented members.
        const inline = type.match(/^\{([\s\S]*)\}$/);
        if (inline) {
          for (const part of inline[1].split(';')) {
            const p = part.match(/(?:\/\*\*([\s\S]*?)\*\/\s*)?(\w+)\?:/);
            if (p) rows.set(`${prefix}${name}.${p[2]}`, p[1] ? defaultOf(`/**${p[1]}*/`) : defaultOf(doc));
          }
          continue;
        }
        if (iface === 'GuardOptions' && /Options\b/.test(type) && !type.includes('=>')) continue; // a nested interface: its own rows
        if (iface === 'BreakerOptions' && name === 'services') continue;
        rows.set(`${prefix}${name}`, defaultOf(doc));
      }
    }
  }
  return rows;
}

if (process.argv[2]) for (const [k, v] of dtsOptions(process.argv[2])) console.log(`${k}\t${v}`);
