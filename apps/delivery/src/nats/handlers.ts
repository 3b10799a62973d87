import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import {
  BusOkSchema,
  create,
  DeliveryAckedSchema,
  DeliveryPageSchema,
  DeliveryStaleCopiesSchema,
  decodeBus,
  encodeReply,
  HistoryChunkSchema,
  HistoryUploadResultSchema,
  type Message,
  type ReplyOk,
  type RequestSubject,
  replyError,
  replyOk,
  SendAcceptedSchema,
  type SubjectCatalog,
} from '@tandem/proto';
import type { Logger } from '@tandem/service-kit';
import { InvalidArgumentError } from '../errors.js';
import type { DeliveryService } from '../service/delivery-service.js';
import { addressIn, addressOut, toDeliver, toNumber } from './convert.js';
import { INTERNAL_ERROR, toWireError } from './errors.js';

export interface DeliveryHandlers {
  /** Stops taking messages (drains the subscriptions) and waits for requests in flight. */
  drain(): Promise<void>;
}

/**
 * Serves delivery's request subjects in queue group 'delivery' and listens to
 * evt.device_revoked. Every message is decoded and validated by proto before the service sees
 * it; a failure is answered with a BusError (mapped in ./errors.ts) and writes nothing.
 */
export function registerDeliveryHandlers(
  nc: NatsConnection,
  catalog: SubjectCatalog,
  service: DeliveryService,
  logger: Logger,
): DeliveryHandlers {
  const inFlight = new Set<Promise<void>>();
  const subscriptions: Subscription[] = [];
  const track = (p: Promise<void>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  function serve<Req extends Message, Res extends Message>(
    subject: RequestSubject<Req, Res>,
    handle: (req: Req) => Promise<ReplyOk<Res>>,
  ): void {
    const run = async (msg: Msg) => {
      let reply: Res;
      try {
        reply = replyOk(subject, await handle(decodeBus(subject, msg.data)));
      } catch (err) {
        let wire = toWireError(err);
        if (!wire) {
          logger.error({ err, subject: subject.key }, 'request failed');
          wire = INTERNAL_ERROR;
        }
        reply = replyError(subject, wire.code, wire.message);
      }
      if (!msg.reply) return;
      try {
        msg.respond(encodeReply(subject, reply));
      } catch (err) {
        logger.error({ err, subject: subject.key }, 'reply failed');
        msg.respond(encodeReply(subject, replyError(subject, INTERNAL_ERROR.code, INTERNAL_ERROR.message)));
      }
    };
    subscriptions.push(
      nc.subscribe(subject.subject, {
        queue: subject.queueGroup,
        callback: (err, msg) => {
          if (err) {
            logger.error({ err, subject: subject.key }, 'subscription error');
            return;
          }
          track(run(msg));
        },
      }),
    );
  }

  const d = catalog.delivery;

  serve(d.accept, async (req) => {
    const accepted = await service.accept({
      sender: addressIn(req.sender, 'sender'),
      clientMessageId: req.clientMessageId,
      copies: req.copies.map((c, i) => ({
        recipient: addressIn(c.recipient, `copies[${i}].recipient`),
        envelopeType: c.type,
        ciphertext: c.ciphertext,
      })),
    });
    return create(SendAcceptedSchema, {
      copies: accepted.copies.map((c) => ({ address: addressOut(c.recipient), serverId: c.serverId })),
      serverTimestampMs: BigInt(accepted.serverTimestampMs),
    });
  });

  serve(d.fetchPage, async (req) => {
    const page = await service.fetchPage(
      addressIn(req.device, 'device'),
      toNumber(req.afterSeq, 'after_seq'),
      req.limit,
    );
    return create(DeliveryPageSchema, { items: page.copies.map(toDeliver), more: page.more });
  });

  serve(d.ack, async (req) => {
    const { removed } = await service.ack(addressIn(req.device, 'device'), req.serverIds);
    return create(DeliveryAckedSchema, { removed });
  });

  serve(d.historyUploadChunk, async (req) => {
    const u = req.request;
    if (!u) throw new InvalidArgumentError('request is required');
    const r = await service.putHistoryChunk({
      uploader: addressIn(req.uploader, 'uploader'),
      recipientDeviceId: u.recipientDeviceId,
      blobId: u.blobId,
      index: u.chunkIndex,
      totalChunks: u.totalChunks,
      totalSize: toNumber(u.totalSize, 'total_size'),
      chunk: u.data,
    });
    return create(HistoryUploadResultSchema, { blobId: r.blobId, receivedChunks: r.chunksStored });
  });

  serve(d.historyFetchChunk, async (req) => {
    const f = req.request;
    if (!f) throw new InvalidArgumentError('request is required');
    const r = await service.getHistoryChunk(addressIn(req.requester, 'requester'), f.blobId, f.chunkIndex);
    return create(HistoryChunkSchema, {
      blobId: f.blobId,
      chunkIndex: f.chunkIndex,
      totalChunks: r.totalChunks,
      totalSize: BigInt(r.totalSize),
      data: r.chunk,
    });
  });

  serve(d.staleCopies, async (req) => {
    const found = await service.staleCopies(
      req.devices.map((a, i) => addressIn(a, `devices[${i}]`)),
      req.minAgeMs,
      req.limit,
    );
    return create(DeliveryStaleCopiesSchema, {
      devices: found.map((f) => ({
        device: addressOut(f.device),
        copies: f.copies.map((c) => ({ serverId: c.serverId, seq: BigInt(c.seq) })),
      })),
    });
  });

  // Readiness probe of the gateways: answered by an instance whose Redis answers.
  serve(d.ping, async () => {
    await service.ping();
    return create(BusOkSchema);
  });

  // The registry revoked a device: drop its queue and blobs (idempotent; one instance handles it).
  const revoked = catalog.events.deviceRevoked;
  subscriptions.push(
    nc.subscribe(revoked.subject, {
      queue: catalog.queueGroups.delivery,
      callback: (err, msg) => {
        if (err) {
          logger.error({ err, subject: revoked.key }, 'subscription error');
          return;
        }
        track(
          (async () => {
            try {
              const event = decodeBus(revoked, msg.data);
              const device = addressIn(event.device, 'device');
              const dropped = await service.revokeDevice(device);
              logger.info(
                { accountId: device.accountId, deviceId: device.deviceId, dropped },
                'device queue removed',
              );
            } catch (err) {
              logger.error({ err, subject: revoked.key }, 'device_revoked handling failed');
            }
          })(),
        );
      },
    }),
  );

  return {
    async drain() {
      await Promise.all(subscriptions.map((s) => s.drain()));
      await Promise.all([...inFlight]);
    },
  };
}
