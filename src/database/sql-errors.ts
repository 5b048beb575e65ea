/**
 * SQLSTATEs that only a client's value can cause: a character the database cannot store or compare
 * (U+0000 in text: 22021 character_not_in_repertoire, 22P05 untranslatable_character). Input checks
 * refuse such values first; this lets the last line answer the client's error as a 400, not a 500.
 */
const UNSTORABLE_TEXT = new Set(['22021', '22P05']);

export function isUnstorableText(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && UNSTORABLE_TEXT.has(code);
}
