export default async function globalTeardown(): Promise<void> {
  await Promise.all(((globalThis as any).__EMBEDDED_PG__ ?? []).map((pg: { stop(): Promise<void> }) => pg.stop()));
}
