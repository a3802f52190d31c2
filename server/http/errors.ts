// Expected failures that map to an HTTP status. `expose` says whether the message
// may be shown to the person (or client) that caused it.
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly expose = status < 500,
  ) {
    super(message);
  }
}

