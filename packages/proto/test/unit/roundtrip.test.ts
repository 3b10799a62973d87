import { create, equals, type Message } from '@bufbuild/protobuf';
import type { GenMessage } from '@bufbuild/protobuf/codegenv2';
import { describe, expect, it } from '@jest/globals';
import {
  ClientFrameSchema,
  decodeBus,
  decodeClientFrame,
  decodeMessage,
  decodeReply,
  decodeServerFrame,
  ErrorCode,
  encodeBus,
  encodeClientFrame,
  encodeMessage,
  encodeReply,
  encodeServerFrame,
  eventSubjects,
  replyError,
  replyOk,
  requestSubjects,
  ServerFrameSchema,
  subjects,
} from '../../src/index.js';
import { ALL_MESSAGE_SCHEMAS, RULES } from '../../src/validate.js';
import {
  ACCOUNT,
  BUS_ERROR,
  BUS_EVENTS,
  BUS_OKS,
  BUS_REQUESTS,
  CLIENT_FRAMES,
  CONTENT_MESSAGES,
  INBOX_MESSAGES,
  LINK_ID,
  LINK_RELAYS,
  SERVER_FRAMES,
} from './samples.js';
import { schemaByName, walkMessage } from './walk.js';

const catalog = subjects('rt');
const LIMIT = { maxBytes: 4 * 1024 * 1024, tooLargeCode: ErrorCode.PAYLOAD_TOO_LARGE };

/** Every top-level sample, including one ok and one error reply per request subject. */
function allSamples(): Message[] {
  const out: Message[] = [
    ...CLIENT_FRAMES,
    ...SERVER_FRAMES,
    ...INBOX_MESSAGES,
    ...LINK_RELAYS,
    ...CONTENT_MESSAGES,
  ];
  for (const s of requestSubjects(catalog)) {
    out.push(
      BUS_REQUESTS[s.key]!,
      replyOk(s, BUS_OKS[s.key]!),
      replyError(s, BUS_ERROR.code, BUS_ERROR.message),
    );
  }
  out.push(...Object.values(BUS_EVENTS), BUS_ERROR);
  return out;
}

describe('samples cover the schema', () => {
  const seenTypes = new Set<string>();
  const seenCases = new Set<string>();
  for (const sample of allSamples()) {
    walkMessage(
      sample,
      ({ schema }) => seenTypes.add(schema.typeName),
      (t, o, f) => seenCases.add(`${t}.${o}.${f}`),
    );
  }

  it.each(ALL_MESSAGE_SCHEMAS.map((s) => [s.typeName]))('%s has a sample', (typeName) => {
    expect(seenTypes.has(typeName)).toBe(true);
  });

  const allCases = ALL_MESSAGE_SCHEMAS.flatMap((s) =>
    s.oneofs.flatMap((o) => o.fields.map((f) => `${s.typeName}.${o.name}.${f.name}`)),
  );
  it.each(allCases.map((c) => [c]))('oneof case %s has a sample', (c) => {
    expect(seenCases.has(c)).toBe(true);
  });

  it('every request and event subject has samples', () => {
    for (const s of requestSubjects(catalog)) {
      expect(BUS_REQUESTS[s.key]?.$typeName).toBe(s.schema.typeName);
      expect(BUS_OKS[s.key]).toBeDefined();
    }
    for (const s of eventSubjects(catalog)) expect(BUS_EVENTS[s.key]?.$typeName).toBe(s.schema.typeName);
    expect(Object.keys(BUS_REQUESTS).length).toBe(requestSubjects(catalog).length);
  });
});

describe('validation rules cover the schema', () => {
  it.each(ALL_MESSAGE_SCHEMAS.map((s) => [s.typeName]))('%s: one rule per field and oneof', (typeName) => {
    const schema = schemaByName.get(typeName)!;
    const table = RULES[typeName];
    expect(table).toBeDefined();
    const expected = [
      ...schema.fields.filter((f) => f.oneof === undefined).map((f) => f.name),
      ...schema.oneofs.map((o) => o.name),
    ].sort();
    expect(Object.keys(table!).sort()).toEqual(expected);
    for (const oneof of schema.oneofs) {
      for (const f of oneof.fields) expect(f.fieldKind).toBe('message');
    }
  });
});

describe('round trip', () => {
  for (const frame of CLIENT_FRAMES) {
    it(`ClientFrame ${frame.body.case}`, () => {
      const decoded = decodeClientFrame(encodeClientFrame(frame));
      expect(equals(ClientFrameSchema, decoded, frame)).toBe(true);
    });
  }

  for (const frame of SERVER_FRAMES) {
    it(`ServerFrame ${frame.body.case}`, () => {
      const decoded = decodeServerFrame(encodeServerFrame(frame));
      expect(equals(ServerFrameSchema, decoded, frame)).toBe(true);
    });
  }

  for (const subject of requestSubjects(catalog)) {
    it(`${subject.subject} request, ok and error replies`, () => {
      const req = BUS_REQUESTS[subject.key]!;
      expect(equals(subject.schema, decodeBus(subject, encodeBus(subject, req)), req)).toBe(true);
      for (const reply of [
        replyOk(subject, BUS_OKS[subject.key]!),
        replyError(subject, ErrorCode.RATE_LIMITED, 'slow down', { retryAfterMs: 250 }),
      ]) {
        expect(equals(subject.replySchema, decodeReply(subject, encodeReply(subject, reply)), reply)).toBe(
          true,
        );
      }
    });
  }

  for (const subject of eventSubjects(catalog)) {
    it(`${subject.subject} event`, () => {
      const msg = BUS_EVENTS[subject.key]!;
      expect(equals(subject.schema, decodeBus(subject, encodeBus(subject, msg)), msg)).toBe(true);
    });
  }

  for (const msg of INBOX_MESSAGES) {
    it(`inbox ${msg.kind.case}`, () => {
      const subject = catalog.inbox(ACCOUNT, 2);
      expect(equals(subject.schema, decodeBus(subject, encodeBus(subject, msg)), msg)).toBe(true);
    });
  }

  for (const msg of LINK_RELAYS) {
    it(`link relay ${msg.kind.case}`, () => {
      const subject = catalog.link(LINK_ID);
      expect(equals(subject.schema, decodeBus(subject, encodeBus(subject, msg)), msg)).toBe(true);
    });
  }

  it('every nested sample round-trips on its own', () => {
    let count = 0;
    for (const sample of allSamples()) {
      walkMessage(sample, ({ schema, msg }) => {
        const s = schema as GenMessage<Message>;
        expect(equals(s, decodeMessage(s, encodeMessage(s, msg, LIMIT), LIMIT), msg)).toBe(true);
        count++;
      });
    }
    expect(count).toBeGreaterThan(schemaByName.size);
  });

  it('an empty message of a type without required fields round-trips', () => {
    const frame = create(ClientFrameSchema, { requestId: 1, body: { case: 'prekeyCount', value: {} } });
    expect(decodeClientFrame(encodeClientFrame(frame))).toEqual(frame);
  });
});

describe('end-to-end content codecs', () => {
  it('round-trips every content sample through encodeContent/decodeContent or the linking codec', async () => {
    const { decodeContent, encodeContent, decodeLinkingPayload, encodeLinkingPayload, ContentSchema } =
      await import('../../src/index.js');
    for (const sample of CONTENT_MESSAGES) {
      if (sample.$typeName === ContentSchema.typeName) {
        const msg = sample as Parameters<typeof encodeContent>[0];
        expect(equals(ContentSchema, decodeContent(encodeContent(msg)), msg)).toBe(true);
      } else {
        const msg = sample as Parameters<typeof encodeLinkingPayload>[0];
        expect(decodeLinkingPayload(encodeLinkingPayload(msg))).toEqual(msg);
      }
    }
  });

  it('rejects content with no body, and a linking payload without its keys', async () => {
    const { decodeContent, decodeLinkingPayload, encodeLinkingPayload, LinkingPayloadSchema, ProtocolError } =
      await import('../../src/index.js');
    expect(() => decodeContent(new Uint8Array())).toThrow(ProtocolError);
    expect(() =>
      encodeLinkingPayload(create(LinkingPayloadSchema, { accountId: ACCOUNT, deviceId: 2 })),
    ).toThrow(ProtocolError);
    // field 2 (device_id) = 2 only: every other field is missing.
    expect(() => decodeLinkingPayload(new Uint8Array([0x10, 0x02]))).toThrow(ProtocolError);
  });
});
