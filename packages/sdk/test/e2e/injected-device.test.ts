import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateIdentity } from '@tandem/crypto/identity';
import { create, DeviceListChangedEventSchema, encodeBus, subjects } from '@tandem/proto';
import pg from 'pg';
import { type InboundMessage, TandemError } from '../../src/index.js';
import { collect, registerPhone, type Stack, startStack, waitUntil } from './stack.js';

describe('a compromised server cannot slip in a device', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack.close();
  });

  it('refuses to send to an account whose list carries a companion the primary never signed', async () => {
    const victim = await registerPhone(stack, 'ivan');
    const sender = await registerPhone(stack, 'judy');
    const onVictim = collect<InboundMessage>((fn) => victim.on('message', fn));
    await sender.send(victim.accountId, { text: 'before' });
    await waitUntil(() => onVictim.length === 1, 'the first message');

    // The "server" adds a device of its own to ivan's account, straight in the registry's
    // database: an identity key it controls, with made-up signatures.
    const intruder = generateIdentity();
    const db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
    await db.query(
      `INSERT INTO devices (account_id, device_id, is_primary, identity_key, registration_id, name, platform,
         linked_at, identity_details, account_signature, device_signature)
       VALUES ($1, 2, false, $2, 4242, 'evil', 'WEB', now(), $3, $4, $5)`,
      [
        victim.accountId,
        Buffer.from(intruder.publicKey),
        Buffer.alloc(65, 1),
        Buffer.alloc(64, 2),
        Buffer.alloc(64, 3),
      ],
    );
    await db.end();
    // ... and announces the change, as the registry does, so every cache picks the device up.
    const events = subjects(stack.nats.prefix).events;
    stack.nats.nc.publish(
      events.deviceListChanged.subject,
      encodeBus(
        events.deviceListChanged,
        create(DeviceListChangedEventSchema, { accountId: victim.accountId }),
      ),
    );
    await stack.nats.nc.flush();
    await new Promise((r) => setTimeout(r, 100));

    const refused = await sender.send(victim.accountId, { text: 'after' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TandemError);
    expect((refused as TandemError).code).toBe('UNTRUSTED_DEVICES');
    await new Promise((r) => setTimeout(r, 200));
    expect(onVictim.map((m) => m.text)).toEqual(['before']);
    await Promise.all([victim.close(), sender.close()]);
  });
});
