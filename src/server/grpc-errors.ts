/** The ONE place that maps any thrown value to a gRPC status (code, message, `mpe-error-code` metadata). */
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { toPublicError } from '../errors.js';

/** Trailing metadata key carrying the stable MPE_ERR_* code. */
export const ERROR_CODE_METADATA = 'mpe-error-code';

/** Maps an error to a gRPC ServiceError; unknown errors become INTERNAL without their message. */
export function toGrpcError(e: unknown): Partial<ServiceError> & { code: number; mpeCode: string } {
  const pub = toPublicError(e);
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA, pub.code);
  return { code: pub.grpc, details: `${pub.code}: ${pub.message}`, metadata, mpeCode: pub.code };
}
