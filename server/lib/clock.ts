// Time comes from an injected clock so that expiry and reminders can be tested at any date.
export interface Clock {
  now(): number; // epoch milliseconds
}

export const systemClock: Clock = { now: () => Date.now() };

export function fixedClock(start: number | string | Date): Clock & { set(t: number | string | Date): void; advance(ms: number): void } {
  let t = new Date(start).getTime();
  return {
    now: () => t,
    set: (v) => {
      t = new Date(v).getTime();
    },
    advance: (ms) => {
      t += ms;
    },
  };
}
