/** Hiding secrets in what is printed: the user and password of a URL, also of a malformed one. */

/**
 * `url` with everything between its scheme and the last `@` replaced by `***`
 * (`redis://:secret@host:6379/0` -> `redis://***@host:6379/0`). Works on strings that do not parse
 * as URLs too (`redis:/u:secret@host` -> `redis:/***@host`), which is where a password is most
 * likely to be printed by accident: in the error about the malformed URL.
 */
export function redactUrl(url: string): string {
  const at = url.lastIndexOf('@');
  if (at < 0) return url;
  const scheme = /^[a-z][a-z0-9+.-]*:\/{0,2}/i.exec(url);
  const start = scheme === null ? 0 : scheme[0].length;
  return `${url.slice(0, start)}***${url.slice(at)}`;
}

/** `text` with the credentials of every `scheme://user:pass@` in it replaced by `***` (log lines, error messages). */
export function redactUrlsIn(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s@/]*@/gi, '$1***@');
}
