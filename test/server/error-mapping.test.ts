/** The one error-mapping function of each transport: catalogue codes keep their status; anything else is INTERNAL without its message. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { MpeError } from '../../src/errors.js';
import { ERROR_CODE_METADATA, toGrpcError } from '../../src/server/grpc-errors.js';
import { toHttpError } from '../../src/server/http-errors.js';

test('MPE_ERR_OVERLOADED sheds as RESOURCE_EXHAUSTED / 503 with the code', () => {
  const g = toGrpcError(new MpeError('MPE_ERR_OVERLOADED', '9 queued'));
  assert.equal(g.code, status.RESOURCE_EXHAUSTED);
  assert.deepEqual(g.metadata!.get(ERROR_CODE_METADATA), ['MPE_ERR_OVERLOADED']);
  assert.match(g.details!, /^MPE_ERR_OVERLOADED: server overloaded.*9 queued$/);
  const h = toHttpError(new MpeError('MPE_ERR_OVERLOADED'));
  assert.equal(h.status, 503);
  assert.equal(h.body.error.code, 'MPE_ERR_OVERLOADED');
});

test('deadline, shutdown and not-ready map to DEADLINE_EXCEEDED/504 and UNAVAILABLE/503', () => {
  assert.equal(toGrpcError(new MpeError('MPE_ERR_REQ_DEADLINE')).code, status.DEADLINE_EXCEEDED);
  assert.equal(toHttpError(new MpeError('MPE_ERR_REQ_DEADLINE')).status, 504);
  assert.equal(toGrpcError(new MpeError('MPE_ERR_SHUTTING_DOWN')).code, status.UNAVAILABLE);
  assert.equal(toHttpError(new MpeError('MPE_ERR_NOT_READY')).status, 503);
});

test('an unknown error becomes INTERNAL / 500 without leaking its message', () => {
  const secret = new Error('password=hunter2 at /etc/secret');
  const g = toGrpcError(secret);
  assert.equal(g.code, status.INTERNAL);
  assert.ok(!g.details!.includes('hunter2'));
  const h = toHttpError(secret);
  assert.equal(h.status, 500);
  assert.equal(h.body.error.code, 'MPE_ERR_INTERNAL');
  assert.ok(!JSON.stringify(h.body).includes('hunter2'));
});

test("fastify's own errors map to catalogue codes", () => {
  assert.equal(toHttpError({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }).body.error.code, 'MPE_ERR_REQ_TOO_LARGE');
  assert.equal(toHttpError({ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }).body.error.code, 'MPE_ERR_REQ_INVALID');
  assert.equal(toHttpError({ validation: [], message: 'body/rows must be array', statusCode: 400 }).status, 400);
});
