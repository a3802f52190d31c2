// The one result type of domain functions: a value, or a message fit to show (next to
// a field when it names one) and the HTTP status it deserves. Expected failures are
// values, not exceptions (STYLE.md).
export type FieldErrors = Record<string, string>;

export type DomainResult<T> = { ok: true; value: T } | { ok: false; field: string; message: string; status?: number };
