// Compile-time contract: the payload type is tied to the subject. Every statement marked with
// an expect-error directive below must fail to compile: `tsc -p packages/proto/tsconfig.json`
// typechecks this file (and fails if a marked statement stops being an error), and
// test/unit/typecheck.test.ts compiles it without the directives and checks that exactly the
// marked statements fail.

import { create } from '@bufbuild/protobuf';
import {
  type BusRequester,
  DeviceLinkedEventSchema,
  decodeBus,
  decodeReply,
  encodeBus,
  encodeReply,
  InboxMessageSchema,
  type RegistryDevice,
  RegistryGetDeviceRequestSchema,
  RegistryTouchRequestSchema,
  replyOk,
  requestBus,
  subjects,
} from '../../src/index.js';

const s = subjects('types');
const getDevice = create(RegistryGetDeviceRequestSchema, {});
const touch = create(RegistryTouchRequestSchema, {});
const linked = create(DeviceLinkedEventSchema, {});
const inbox = create(InboxMessageSchema, {});

/** Never called: it only has to typecheck (or, on marked lines, fail to). */
export function compileOnly(requester: BusRequester, bytes: Uint8Array): void {
  encodeBus(s.registry.getDevice, getDevice);
  encodeBus(s.events.deviceLinked, linked);
  encodeBus(s.inbox('x', 1), inbox);
  const device: RegistryDevice | undefined = (() => {
    const r = decodeReply(s.registry.getDevice, bytes);
    return r.result.case === 'ok' ? r.result.value : undefined;
  })();
  void device;
  void requestBus(requester, s.registry.touch, touch, { timeoutMs: 1 });

  // @ts-expect-error a touch request is not a get_device request
  encodeBus(s.registry.getDevice, touch);
  // @ts-expect-error an event message on the wrong event subject
  encodeBus(s.events.deviceRevoked, linked);
  // @ts-expect-error an inbox message on a request subject
  encodeBus(s.delivery.accept, inbox);
  // @ts-expect-error a request is not the reply of its subject
  encodeReply(s.registry.getDevice, getDevice);
  // @ts-expect-error the wrong request for requestBus
  void requestBus(requester, s.registry.getDevice, touch, { timeoutMs: 1 });
  // @ts-expect-error the ok value must be the subject's ok type
  replyOk(s.registry.getDevice, touch);
  // @ts-expect-error decodeBus returns the subject's type, not another
  const wrong: typeof touch = decodeBus(s.registry.getDevice, bytes);
  void wrong;
}
