import type { Subscription } from 'fhir/r4';

/** Subscriptions R5 Backport IG: what a notification carries. */
export const PAYLOAD_CONTENT_URL = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content';

export type PayloadContent = 'empty' | 'id-only' | 'full-resource';

/** A Subscription as the matcher and the deliverers use it. */
export interface ActiveSubscription {
  id: string;
  channel: 'rest-hook' | 'websocket';
  resourceType: string;
  criteria: [string, string][];
  endpoint?: string;
  /** mime type of the payload; undefined = no body */
  payload?: string;
  content: PayloadContent;
  headers: [string, string][];
}

/**
 * Reads a Subscription (subscription.html, R4): `criteria` is a search URL
 * (`Observation?code=…&patient=…`); `channel.payload` absent means the
 * notification has no body, present means the resource (or, with the
 * backport payload-content extension `id-only`, just its id); each
 * `channel.header` is one `Name: value` line. Throws a message when the
 * Subscription cannot be served.
 */
export function readSubscription(s: Subscription): ActiveSubscription {
  const m = /^([A-Z][A-Za-z]+)(?:\?(.*))?$/.exec((s.criteria ?? '').trim());
  if (!m) throw new Error(`criteria "${s.criteria ?? ''}" is not a search URL like Observation?code=…`);
  const type = s.channel?.type;
  if (type !== 'rest-hook' && type !== 'websocket') throw new Error(`channel type "${type ?? ''}" is not supported (rest-hook, websocket)`);
  if (type === 'rest-hook' && !/^https?:\/\/\S+$/.test(s.channel.endpoint ?? '')) {
    throw new Error('a rest-hook channel needs an http(s) endpoint');
  }
  const declared = (s.channel as any)._payload?.extension?.find((e: any) => e.url === PAYLOAD_CONTENT_URL)?.valueCode as
    | PayloadContent
    | undefined;
  const content: PayloadContent = !s.channel.payload ? 'empty' : declared ?? 'full-resource';
  const headers = (s.channel.header ?? []).map((h) => {
    const i = h.indexOf(':');
    if (i <= 0) throw new Error(`channel.header "${h}" must look like "Name: value"`);
    return [h.slice(0, i).trim(), h.slice(i + 1).trim()] as [string, string];
  });
  return {
    id: s.id!,
    channel: type,
    resourceType: m[1],
    criteria: [...new URLSearchParams(m[2] ?? '').entries()],
    endpoint: s.channel.endpoint,
    payload: s.channel.payload || undefined,
    content,
    headers,
  };
}
