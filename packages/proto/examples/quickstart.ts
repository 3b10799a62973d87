import {
  ClientFrameSchema,
  create,
  decodeClientFrame,
  decodeServerFrame,
  EnvelopeType,
  ErrorCode,
  encodeClientFrame,
  encodeServerFrame,
  ProtocolError,
  RegistryGetDeviceRequestSchema,
  SendSchema,
  ServerFrameSchema,
} from '@tandem/proto';
import { decodeBus, encodeBus, subjects } from '@tandem/proto/subjects';

export function quickstart(): { subject: string; result: string; rejected: string } {
  // Device side: build, encode and send a frame (one binary WebSocket message).
  const send = create(SendSchema, {
    clientMessageId: 'msg-1',
    recipientAccountId: '5d0c1a52-8e1f-4c6b-b7a4-1f6a2e9d3c02',
    copies: [
      {
        address: { accountId: '5d0c1a52-8e1f-4c6b-b7a4-1f6a2e9d3c02', deviceId: 1 },
        registrationId: 11,
        type: EnvelopeType.MESSAGE,
        ciphertext: new Uint8Array([1, 2, 3]),
      },
    ],
  });
  const wire = encodeClientFrame(
    create(ClientFrameSchema, { requestId: 7, body: { case: 'send', value: send } }),
  );

  // Gateway side: decode (validates every field; throws only ProtocolError) and answer.
  const frame = decodeClientFrame(wire);
  const reply = encodeServerFrame(
    create(ServerFrameSchema, {
      requestId: frame.requestId,
      body: {
        case: 'error',
        value: { code: ErrorCode.RATE_LIMITED, message: 'slow down', retryAfterMs: 500 },
      },
    }),
  );
  const answer = decodeServerFrame(reply);

  // Service side: typed NATS subjects; the payload type is bound to the subject.
  const bus = subjects('tandem');
  const request = create(RegistryGetDeviceRequestSchema, {
    device: { accountId: '0b7c5b9e-4f0e-4a47-9d1c-2f3b8b9a6e01', deviceId: 2 },
  });
  const payload = encodeBus(bus.registry.getDevice, request); // publish on bus.registry.getDevice.subject
  const received = decodeBus(bus.registry.getDevice, payload);

  // Invalid input is rejected with one error type that names the field.
  let rejected = '';
  try {
    decodeClientFrame(new Uint8Array([0x08, 0x00]));
  } catch (error) {
    if (error instanceof ProtocolError) rejected = `${ErrorCode[error.code]} at ${error.path}`;
  }
  return {
    subject: `${bus.registry.getDevice.subject} device ${received.device?.deviceId}`,
    result: `${answer.body.case} for request ${answer.requestId}`,
    rejected,
  };
}
