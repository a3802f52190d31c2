// Input from a client is `unknown` until parsed. A field is a string or absent:
// arrays (`code[]=`, repeated names) and objects are treated as absent.
export function formField(body: unknown, name: string): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  if (!Object.prototype.hasOwnProperty.call(body, name)) return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}
