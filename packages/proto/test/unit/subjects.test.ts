import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from '@jest/globals';
import {
  type BusRequester,
  DeviceStatus,
  ErrorCode,
  encodeBus,
  encodeReply,
  eventSubjects,
  ProtocolError,
  RegistryGetDeviceRequestSchema,
  RegistryTouchRequestSchema,
  replyError,
  replyOk,
  requestBus,
  requestSubjects,
  subjects,
} from '../../src/index.js';
import * as subjectsEntry from '../../src/subjects.js';
import { ACCOUNT, address, BUS_OKS, key32, LINK_ID } from './samples.js';

const prefix = `t${Math.random().toString(36).slice(2, 10)}`;
const catalog = subjects(prefix);

describe('subjects()', () => {
  it('builds versioned subjects under the prefix', () => {
    expect(catalog.registry.getDevice.subject).toBe(`${prefix}.v1.registry.get_device`);
    expect(catalog.registry.getDeviceLists.subject).toBe(`${prefix}.v1.registry.get_device_lists`);
    expect(catalog.delivery.fetchPage.subject).toBe(`${prefix}.v1.delivery.fetch_page`);
    expect(catalog.events.deviceRevoked.subject).toBe(`${prefix}.v1.evt.device_revoked`);
    expect(catalog.inbox(ACCOUNT, 3).subject).toBe(`${prefix}.v1.inbox.${ACCOUNT}.3`);
    expect(catalog.link(LINK_ID).subject).toBe(`${prefix}.v1.link.${LINK_ID}`);
    expect(catalog.inboxWildcard).toBe(`${prefix}.v1.inbox.*.*`);
    expect(catalog.linkWildcard).toBe(`${prefix}.v1.link.*`);
    expect(subjects().registry.touch.subject).toBe('tandem.v1.registry.touch');
  });

  it('assigns queue groups and unique subjects', () => {
    for (const s of Object.values(catalog.registry)) expect(s.queueGroup).toBe('registry');
    for (const s of Object.values(catalog.delivery)) expect(s.queueGroup).toBe('delivery');
    const all = [...requestSubjects(catalog), ...eventSubjects(catalog)].map((s) => s.subject);
    expect(new Set(all).size).toBe(all.length);
    expect(requestSubjects(catalog)).toHaveLength(22);
    expect(eventSubjects(catalog)).toHaveLength(4);
    expect(catalog.queueGroups).toEqual({ registry: 'registry', delivery: 'delivery' });
  });

  it('rejects bad prefixes and malformed inbox/link tokens', () => {
    for (const bad of ['', 'a..b', 'a.*', 'has space', 'x.>'])
      expect(() => subjects(bad)).toThrow(ProtocolError);
    expect(() => catalog.inbox('not-a-uuid', 1)).toThrow(ProtocolError);
    expect(() => catalog.inbox(ACCOUNT, 0)).toThrow(ProtocolError);
    expect(() => catalog.inbox(ACCOUNT, 1.5)).toThrow(ProtocolError);
    expect(() => catalog.link('x.y')).toThrow(ProtocolError);
  });

  it('is also exported from @tandem/proto/subjects', () => {
    expect(subjectsEntry.subjects).toBe(subjects);
    expect(subjectsEntry.encodeBus).toBe(encodeBus);
  });
});

describe('requestBus', () => {
  it('encodes the request, sends it to the subject and decodes the typed reply', async () => {
    const seen: string[] = [];
    const requester: BusRequester = {
      request: async (subject, payload) => {
        seen.push(subject);
        expect(payload.byteLength).toBeGreaterThan(0);
        return encodeReply(
          catalog.registry.getDevice,
          replyOk(
            catalog.registry.getDevice,
            create((await import('../../src/index.js')).RegistryDeviceSchema, {
              address: address(ACCOUNT, 1),
              registrationId: 1,
              identityKey: key32(1),
              status: DeviceStatus.ACTIVE,
              isPrimary: true,
            }),
          ),
        );
      },
    };
    const res = await requestBus(
      requester,
      catalog.registry.getDevice,
      create(RegistryGetDeviceRequestSchema, { device: address(ACCOUNT, 1) }),
      { timeoutMs: 100 },
    );
    expect(seen).toEqual([catalog.registry.getDevice.subject]);
    expect(res.result.case).toBe('ok');
    if (res.result.case === 'ok') expect(res.result.value.isPrimary).toBe(true);
  });

  it('rejects a malformed reply with ProtocolError', async () => {
    const requester: BusRequester = { request: async () => new Uint8Array([0xff]) };
    await expect(
      requestBus(
        requester,
        catalog.registry.touch,
        create(RegistryTouchRequestSchema, { devices: [address()], seenAtMs: 1n }),
        {
          timeoutMs: 100,
        },
      ),
    ).rejects.toBeInstanceOf(ProtocolError);
  });

  it('builds error replies', () => {
    const r = replyError(catalog.delivery.accept, ErrorCode.QUEUE_FULL, 'full', { retryAfterMs: 1000 });
    expect(r.result.case).toBe('error');
    expect(r.result.case === 'error' && r.result.value.retryAfterMs).toBe(1000);
    expect(BUS_OKS['delivery.accept']).toBeDefined();
  });
});
