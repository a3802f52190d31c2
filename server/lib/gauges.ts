// The sizes of the in-memory structures that grow with traffic (limiters, the jti cache,
// write-behind queues, …), read-only, for `kill -USR2` (serve.ts logs them) and the soak
// (test/bench/soak.ts). Each structure registers itself where it is made, so that no
// factory has to pass a sizes() up through the ones that compose it; several portals in
// one process (the tests) are summed by name. Held weakly: a gauge never keeps a closed
// portal's structures alive.
type Read = (target: never) => number;

const gauges: Array<{ name: string; target: WeakRef<object>; read: Read }> = [];

// `read` gets the target back, so that it need not close over it (which would hold it).
export function gauge<T extends object>(name: string, target: T, read: (target: T) => number): void {
  if (gauges.length >= 1000) prune();
  gauges.push({ name, target: new WeakRef(target), read: read as Read });
}

function prune(): void {
  for (let i = gauges.length - 1; i >= 0; i--) if (gauges[i]!.target.deref() === undefined) gauges.splice(i, 1);
}

// Every live gauge's size, by name (summed over instances), names sorted.
export function gaugeSizes(): Record<string, number> {
  prune();
  const sizes: Record<string, number> = {};
  for (const g of gauges) {
    const target = g.target.deref();
    if (target !== undefined) sizes[g.name] = (sizes[g.name] ?? 0) + g.read(target as never);
  }
  return Object.fromEntries(Object.entries(sizes).sort(([a], [b]) => a.localeCompare(b)));
}

// Bytes in MiB to one decimal, as the sizes line gives memory.
export const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
