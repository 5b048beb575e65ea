/** `{PUBLIC_URL}/fhir`, injected where links and fullUrls are built. */
export const BASE_URL = Symbol('BASE_URL');
