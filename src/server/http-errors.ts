/** The ONE place that maps any thrown value (ours or fastify's) to an HTTP status and `{error: {code, message}}`. */
import { MpeError, toPublicError } from '../errors.js';

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  validation?: unknown;
  message?: string;
}

/** Translates fastify's own request errors (parsing, schema, size) into catalogue errors. */
function normalize(e: unknown): unknown {
  if (e instanceof MpeError || typeof e !== 'object' || e === null) return e;
  const f = e as FastifyLikeError;
  if (f.validation !== undefined) return new MpeError('MPE_ERR_REQ_INVALID', f.message);
  switch (f.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new MpeError('MPE_ERR_REQ_TOO_LARGE');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new MpeError('MPE_ERR_REQ_JSON');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new MpeError('MPE_ERR_REQ_INVALID', 'send Content-Type: application/json');
    default:
      break;
  }
  if (e instanceof SyntaxError && f.statusCode === 400) return new MpeError('MPE_ERR_REQ_JSON');
  if (typeof f.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500) return new MpeError('MPE_ERR_REQ_INVALID', f.code);
  return e;
}

/** Maps an error to `{status, body}`; unknown errors become 500 MPE_ERR_INTERNAL without their message. */
export function toHttpError(e: unknown): { status: number; code: string; body: { error: { code: string; message: string } } } {
  const pub = toPublicError(normalize(e));
  return { status: pub.http, code: pub.code, body: { error: { code: pub.code, message: pub.message } } };
}
