// The one result type of domain functions: a value, or a failure fit to show: the
// messages by form field (`errors`, shown next to each field), one summary line
// (`message`, for a flash notice, JSON or the CLI) and the HTTP status it deserves.
// Expected failures are values, not exceptions (STYLE.md).
// Parsed<T> (validation.ts) is one value's parse, a value or a message; a domain function
// names the field when it passes such a message on as a Failure.
export type FieldErrors = Record<string, string>;

export type Failure = { ok: false; status: number; message: string; errors: FieldErrors };
export type DomainResult<T> = { ok: true; value: T } | Failure;

export function success<T>(value: T): DomainResult<T> {
  return { ok: true, value };
}

// One field's message.
export function failure(field: string, message: string, status = 422): Failure {
  return { ok: false, status, message, errors: { [field]: message } };
}

// Several fields' messages at once (a form checked as a whole).
export function invalid(errors: FieldErrors, status = 422): Failure {
  return { ok: false, status, message: Object.values(errors).filter(Boolean).join(' '), errors };
}

// The same messages under a form's own field names ({ name: 'appName' }).
export function renameFields(errors: FieldErrors, names: Record<string, string>): FieldErrors {
  return Object.fromEntries(Object.entries(errors).map(([field, message]) => [names[field] ?? field, message]));
}

// A refusal of the whole request, not of one field (a cap reached, a conflict).
export function refused(message: string, status: number): Failure {
  return { ok: false, status, message, errors: {} };
}
