import { describe, expect, it } from '@jest/globals';
import { ErrorCode, ProtocolError } from '@tandem/proto';
import {
  BlobNotFoundError,
  ConflictError,
  ForbiddenError,
  InvalidArgumentError,
  NotPrimaryError,
  PayloadTooLargeError,
  QueueFullError,
} from '../../src/errors.js';
import { toWireError } from '../../src/nats/errors.js';

describe('toWireError (the one mapping of delivery errors to ErrorCode)', () => {
  it.each([
    [new InvalidArgumentError('x'), ErrorCode.INVALID_ARGUMENT],
    [new QueueFullError([{ accountId: 'a', deviceId: 1 }]), ErrorCode.QUEUE_FULL],
    [new PayloadTooLargeError('x'), ErrorCode.PAYLOAD_TOO_LARGE],
    [new BlobNotFoundError(), ErrorCode.BLOB_NOT_FOUND],
    [new ForbiddenError('x'), ErrorCode.FORBIDDEN],
    [new NotPrimaryError(), ErrorCode.NOT_PRIMARY],
    [new ConflictError('x'), ErrorCode.CONFLICT],
    [new ProtocolError(ErrorCode.BAD_FRAME, 'X', 'cannot parse'), ErrorCode.BAD_FRAME],
  ])('maps %p', (err, code) => {
    expect(toWireError(err)?.code).toBe(code);
  });

  it('leaves unexpected errors unmapped (answered INTERNAL, without their message)', () => {
    expect(toWireError(new Error('redis exploded: secret detail'))).toBeUndefined();
    expect(toWireError('a string')).toBeUndefined();
  });

  it('gives every typed error a name, a stable code and an optional cause', () => {
    const cause = new Error('root');
    const err = new InvalidArgumentError('bad', { cause });
    expect(err.name).toBe('InvalidArgumentError');
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.cause).toBe(cause);
  });
});
