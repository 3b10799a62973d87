import { clone, create, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from '@jest/globals';
import {
  type ClientFrame,
  ClientFrameSchema,
  decodeClientFrame,
  decodeServerFrame,
  ErrorCode,
  encodeClientFrame,
  encodeServerFrame,
  errorCodeName,
  isProtocolError,
  isRetryable,
  MAX_FRAME_BYTES,
  ProtocolError,
  type ServerFrame,
  ServerFrameSchema,
  validateClientFrame,
  validateServerFrame,
} from '../../src/index.js';
import { address, bytes, CLIENT_FRAMES, OTHER_ACCOUNT, SERVER_FRAMES } from './samples.js';

function clientSample(kind: NonNullable<ClientFrame['body']['case']>): ClientFrame {
  return clone(ClientFrameSchema, CLIENT_FRAMES.find((f) => f.body.case === kind)!);
}
function serverSample(kind: NonNullable<ServerFrame['body']['case']>): ServerFrame {
  return clone(ServerFrameSchema, SERVER_FRAMES.find((f) => f.body.case === kind)!);
}
function body<T>(frame: ClientFrame | ServerFrame): T {
  return frame.body.value as T;
}

function caught(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return error as ProtocolError;
  }
  throw new Error('expected a ProtocolError');
}

interface Case {
  name: string;
  frame: () => ClientFrame | ServerFrame;
  code: ErrorCode;
  path: string;
}

const clientCases: Case[] = [
  {
    name: 'request_id 0',
    frame: () => ({ ...clientSample('ping'), requestId: 0 }),
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.request_id',
  },
  {
    name: 'no body',
    frame: () => create(ClientFrameSchema, { requestId: 1 }),
    code: ErrorCode.BAD_FRAME,
    path: 'ClientFrame.body',
  },
  {
    name: 'short signature',
    frame: () => {
      const f = clientSample('authenticate');
      body<{ signature: Uint8Array }>(f).signature = bytes(63, 1);
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.authenticate.signature',
  },
  {
    name: 'uppercase account id',
    frame: () => {
      const f = clientSample('authenticate');
      body<{ accountId: string }>(f).accountId = '0B7C5B9E-4F0E-4A47-9D1C-2F3B8B9A6E01';
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.authenticate.account_id',
  },
  {
    name: 'device id 0',
    frame: () => {
      const f = clientSample('authenticate');
      body<{ deviceId: number }>(f).deviceId = 0;
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.authenticate.device_id',
  },
  {
    name: '31-byte identity key',
    frame: () => {
      const f = clientSample('registerVerify');
      body<{ identityKey: Uint8Array }>(f).identityKey = bytes(31, 1);
      return f;
    },
    code: ErrorCode.INVALID_KEY,
    path: 'ClientFrame.register_verify.identity_key',
  },
  {
    name: 'short ML-KEM key',
    frame: () => {
      const f = clientSample('registerVerify');
      body<{ pqPrekeys: { publicKey: Uint8Array }[] }>(f).pqPrekeys[0]!.publicKey = bytes(1183, 1);
      return f;
    },
    code: ErrorCode.INVALID_KEY,
    path: 'ClientFrame.register_verify.pq_prekeys[0].public_key',
  },
  {
    name: 'bad handle',
    frame: () => {
      const f = clientSample('registerRequestCode');
      body<{ handle: string }>(f).handle = 'Al';
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.register_request_code.handle',
  },
  {
    name: 'duplicate copy address',
    frame: () => {
      const f = clientSample('send');
      const copies = body<{ copies: { address?: unknown }[] }>(f).copies;
      copies[2]!.address = address(OTHER_ACCOUNT, 1);
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.send.copies[2]',
  },
  {
    name: 'too many copies',
    frame: () => {
      const f = clientSample('send');
      const copies = body<{ copies: { address?: { deviceId: number } }[] }>(f).copies;
      for (let i = 0; i < 10; i++) {
        const copy = clone(ClientFrameSchema, f).body.value as typeof f.body.value & {
          copies: typeof copies;
        };
        copy.copies[0]!.address!.deviceId = 10 + i;
        copies.push(copy.copies[0]!);
      }
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.send.copies',
  },
  {
    name: 'empty ciphertext',
    frame: () => {
      const f = clientSample('send');
      body<{ copies: { ciphertext: Uint8Array }[] }>(f).copies[0]!.ciphertext = new Uint8Array(0);
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.send.copies[0].ciphertext',
  },
  {
    name: 'ciphertext over 64 KiB',
    frame: () => {
      const f = clientSample('send');
      body<{ copies: { ciphertext: Uint8Array }[] }>(f).copies[0]!.ciphertext = bytes(64 * 1024 + 1, 1);
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.send.copies[0].ciphertext',
  },
  {
    name: 'bad client_message_id',
    frame: () => {
      const f = clientSample('send');
      body<{ clientMessageId: string }>(f).clientMessageId = 'a b';
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.send.client_message_id',
  },
  {
    name: 'unspecified envelope type',
    frame: () => {
      const f = clientSample('send');
      body<{ copies: { type: number }[] }>(f).copies[0]!.type = 0;
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.send.copies[0].type',
  },
  {
    name: 'unknown envelope type',
    frame: () => {
      const f = clientSample('send');
      body<{ copies: { type: number }[] }>(f).copies[0]!.type = 77;
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.send.copies[0].type',
  },
  {
    name: 'duplicate ack id',
    frame: () => {
      const f = clientSample('ack');
      const ids = body<{ serverIds: string[] }>(f).serverIds;
      ids.push(ids[0]!);
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.ack.server_ids[2]',
  },
  {
    name: 'empty prekey upload',
    frame: () => create(ClientFrameSchema, { requestId: 1, body: { case: 'prekeyUpload', value: {} } }),
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.prekey_upload',
  },
  {
    name: 'duplicate one-time prekey id',
    frame: () => {
      const f = clientSample('prekeyUpload');
      body<{ oneTimePrekeys: { id: number }[] }>(f).oneTimePrekeys[1]!.id = 3;
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.prekey_upload.one_time_prekeys[1]',
  },
  {
    name: 'link_approve with a device signature',
    frame: () => {
      const f = clientSample('linkApprove');
      body<{ deviceIdentity: { deviceSignature: Uint8Array } }>(f).deviceIdentity.deviceSignature = bytes(
        64,
        1,
      );
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.link_approve.device_identity.device_signature',
  },
  {
    name: 'link_complete without a device signature',
    frame: () => {
      const f = clientSample('linkComplete');
      body<{ deviceIdentity: { deviceSignature: Uint8Array } }>(f).deviceIdentity.deviceSignature =
        new Uint8Array();
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.link_complete.device_identity.device_signature',
  },
  {
    name: 'unlink the primary',
    frame: () =>
      create(ClientFrameSchema, { requestId: 1, body: { case: 'unlink', value: { deviceId: 1 } } }),
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.unlink.device_id',
  },
  {
    name: 'history chunk 0 with a blob id',
    frame: () => {
      const f = clientSample('historyUpload');
      body<{ blobId: string }>(f).blobId = 'c0ffee00-1234-4abc-8def-0123456789ab';
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.history_upload.blob_id',
  },
  {
    name: 'history total_chunks inconsistent with total_size',
    frame: () => {
      const f = clientSample('historyUpload');
      body<{ totalChunks: number }>(f).totalChunks = 3;
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.history_upload.total_chunks',
  },
  {
    name: 'history non-final chunk shorter than the chunk size',
    frame: () => {
      const f = clientSample('historyUpload');
      body<{ data: Uint8Array }>(f).data = bytes(100, 1);
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.history_upload.data',
  },
  {
    name: 'device name with a control character',
    frame: () => {
      const f = clientSample('linkStart');
      body<{ name: string }>(f).name = 'evil\u0007';
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.link_start.name',
  },
  {
    name: 'device name of 65 characters',
    frame: () => {
      const f = clientSample('linkStart');
      body<{ name: string }>(f).name = '😀'.repeat(65);
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ClientFrame.link_start.name',
  },
];

const serverCases: Case[] = [
  {
    name: 'push with a request id',
    frame: () => ({ ...serverSample('deliver'), requestId: 5 }),
    code: ErrorCode.BAD_FRAME,
    path: 'ServerFrame.request_id',
  },
  {
    name: 'response without a request id',
    frame: () => ({ ...serverSample('sendResult'), requestId: 0 }),
    code: ErrorCode.BAD_FRAME,
    path: 'ServerFrame.request_id',
  },
  {
    name: 'error with UNSPECIFIED code',
    frame: () => {
      const f = serverSample('error');
      body<{ code: ErrorCode }>(f).code = ErrorCode.UNSPECIFIED;
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ServerFrame.error.code',
  },
  {
    name: 'receipt with a sender',
    frame: () => {
      const f = clone(
        ServerFrameSchema,
        SERVER_FRAMES.find((x) => x.body.case === 'deliver' && x.body.value.content.case === 'receipt')!,
      );
      body<{ sender: unknown }>(f).sender = address();
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ServerFrame.deliver.sender',
  },
  {
    name: 'envelope without a sender',
    frame: () => {
      const f = serverSample('deliver');
      body<{ sender: unknown }>(f).sender = undefined;
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ServerFrame.deliver.sender',
  },
  {
    name: 'device list without the primary first',
    frame: () => {
      const f = serverSample('deviceList');
      body<{ devices: unknown[] }>(f).devices.reverse();
      return f;
    },
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ServerFrame.device_list.devices[0]',
  },
  {
    name: 'empty mismatched_devices',
    frame: () =>
      create(ServerFrameSchema, {
        requestId: 1,
        body: { case: 'sendResult', value: { result: { case: 'mismatchedDevices', value: {} } } },
      }),
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ServerFrame.send_result.mismatched_devices',
  },
  {
    name: 'send_result without result',
    frame: () => create(ServerFrameSchema, { requestId: 1, body: { case: 'sendResult', value: {} } }),
    code: ErrorCode.INVALID_ARGUMENT,
    path: 'ServerFrame.send_result.result',
  },
];

describe('validation', () => {
  for (const c of clientCases) {
    it(`ClientFrame: ${c.name}`, () => {
      const frame = c.frame() as ClientFrame;
      const onEncode = caught(() => encodeClientFrame(frame));
      expect([errorCodeName(onEncode.code), onEncode.path]).toEqual([
        errorCodeName(c.code),
        expect.stringContaining(c.path),
      ]);
      expect(onEncode.message).toContain(c.path);
      // The same frame built without validation is rejected on decode with the same error.
      const raw = toBinary(ClientFrameSchema, frame);
      const onDecode = caught(() => decodeClientFrame(raw));
      expect([onDecode.code, onDecode.path]).toEqual([onEncode.code, onEncode.path]);
      expect(() => validateClientFrame(frame)).toThrow(ProtocolError);
    });
  }
  for (const c of serverCases) {
    it(`ServerFrame: ${c.name}`, () => {
      const frame = c.frame() as ServerFrame;
      const onEncode = caught(() => encodeServerFrame(frame));
      expect([errorCodeName(onEncode.code), onEncode.path]).toEqual([
        errorCodeName(c.code),
        expect.stringContaining(c.path),
      ]);
      const onDecode = caught(() => decodeServerFrame(toBinary(ServerFrameSchema, frame)));
      expect([onDecode.code, onDecode.path]).toEqual([onEncode.code, onEncode.path]);
      expect(() => validateServerFrame(frame)).toThrow(ProtocolError);
    });
  }

  it('rejects an oversized frame before parsing', () => {
    const err = caught(() => decodeClientFrame(new Uint8Array(MAX_FRAME_BYTES + 1).fill(0xff)));
    expect(err.code).toBe(ErrorCode.FRAME_TOO_LARGE);
    expect(err.cause).toBeUndefined();
  });

  it('a full-size history chunk fits in a frame', () => {
    const f = clientSample('historyUpload');
    expect(encodeClientFrame(f).byteLength).toBeLessThan(MAX_FRAME_BYTES);
  });

  it('wraps parse failures as BAD_FRAME with the cause', () => {
    const err = caught(() => decodeClientFrame(new Uint8Array([0x0a, 0xff])));
    expect(err.code).toBe(ErrorCode.BAD_FRAME);
    expect(err.cause).toBeInstanceOf(Error);
    expect(err.name).toBe('ProtocolError');
    expect(isProtocolError(err)).toBe(true);
  });

  it('rejects a non-Uint8Array input', () => {
    expect(caught(() => decodeClientFrame('hello' as unknown as Uint8Array)).code).toBe(ErrorCode.BAD_FRAME);
  });

  it('rejects an object that is not a message of the expected type', () => {
    const err = caught(() => encodeClientFrame({ requestId: 1 } as unknown as ClientFrame));
    expect(err.code).toBe(ErrorCode.BAD_FRAME);
  });

  it('ignores unknown fields (a newer peer) but rejects an unknown frame case', () => {
    const known = encodeClientFrame(clientSample('ping'));
    // field 1000, varint 1: unknown, skipped
    const withUnknown = new Uint8Array([...known, 0xc0, 0x3e, 0x01]);
    expect(decodeClientFrame(withUnknown).body.case).toBe('ping');
    // request_id 1 and only an unknown (future) body field 99
    const futureFrame = new Uint8Array([0x08, 0x01, 0x9a, 0x06, 0x00]);
    expect(caught(() => decodeClientFrame(futureFrame)).code).toBe(ErrorCode.BAD_FRAME);
  });

  it('knows retryability and names of error codes', () => {
    expect(isRetryable(ErrorCode.RATE_LIMITED)).toBe(true);
    expect(isRetryable(ErrorCode.BAD_FRAME)).toBe(false);
    expect(isRetryable(ErrorCode.UNSPECIFIED)).toBe(false);
    expect(errorCodeName(ErrorCode.DEVICE_LIMIT)).toBe('DEVICE_LIMIT');
    expect(errorCodeName(999 as ErrorCode)).toBe('UNKNOWN(999)');
  });
});
