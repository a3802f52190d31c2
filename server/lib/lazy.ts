// A library loaded on first use and kept: start-up stays short, and later calls cost
// nothing. (`await import()` of a loaded module still goes through the module loader
// on every call: under tsx, a message to its loader thread, which cost a tenth of the
// token endpoint's CPU for private_key_jwt.)
export function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    loaded ??= load().catch((err: unknown) => {
      loaded = undefined; // a failed load is tried again next time
      throw err;
    });
    return loaded;
  };
}
