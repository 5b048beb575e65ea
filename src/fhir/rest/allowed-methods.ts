/**
 * The methods a URL under /fhir supports, by path shape, as fhir.controller.ts (and the audit
 * trail's controller) route them: RFC 9110 §15.5.6 says a 405 response MUST carry an `Allow`
 * header listing the target's supported methods (operation-outcome.filter.ts adds it).
 */

const READ = ['GET', 'HEAD'];
const OPERATION = ['GET', 'HEAD', 'POST'];
/**
 * Types served read-only from their own store (src/audit routes every `AuditEvent…` URL): no create,
 * update, patch, delete, history or operations (`$meta-add` too: a 405 with an empty Allow), no
 * `_include`, and `_revinclude` cannot reach them.
 */
export const READ_ONLY_TYPES: ReadonlySet<string> = new Set(['AuditEvent']);

/** `path` is the request path (query allowed); undefined when it is not under /fhir. */
export function allowedMethods(path: string): string[] | undefined {
  const m = /^\/fhir(\/[^?#]*)?(?:[?#].*)?$/.exec(path);
  if (!m) return undefined;
  const [type, id, third, fourth, ...more] = (m[1] ?? '').split('/').filter(Boolean);
  if (more.length) {
    // an operation on a historical version ($meta; the controller names none for those that write)
    const versionOperation = more.length === 1 && more[0].startsWith('$') && third === '_history' && !READ_ONLY_TYPES.has(type);
    return versionOperation ? OPERATION : [];
  }
  if (type === undefined) return [...READ, 'POST']; // system search, batch/transaction
  if (type.startsWith('$')) return OPERATION;
  if (type === 'metadata' || type === '_history') return id === undefined ? READ : [];
  if (type === '_search') return id === undefined ? ['POST'] : [];
  const readOnly = READ_ONLY_TYPES.has(type);
  if (id === undefined) return readOnly ? READ : [...READ, 'POST', 'PUT', 'PATCH', 'DELETE']; // PUT/PATCH/DELETE: conditional
  if (id === '_search') return third === undefined ? ['POST'] : [];
  if (id === '_history') return third === undefined && !readOnly ? READ : [];
  if (id.startsWith('$')) return third === undefined && !readOnly ? OPERATION : [];
  if (third === undefined) return readOnly ? READ : [...READ, 'PUT', 'PATCH', 'DELETE'];
  if (third.startsWith('$')) return fourth === undefined && !readOnly ? OPERATION : [];
  if (third === '_history') return fourth !== undefined || !readOnly ? READ : [];
  return fourth === undefined ? READ : fourth === '_search' ? ['POST'] : []; // compartment search
}
