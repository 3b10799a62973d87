/**
 * @tandem/proto: every wire (device <-> gateway) and bus (service <-> service) message of Tandem,
 * the codecs that validate them, the limits, the error and close codes, and the NATS subject
 * catalog. Generated message types and schemas come from ./gen (protobuf-es v2).
 */

// The protobuf-es runtime functions consumers need to build and compare messages, so that
// services depend on @tandem/proto alone.
export { clone, create, equals, isMessage, type Message, type MessageInitShape } from '@bufbuild/protobuf';
export * from './bus.js';
export * from './close-codes.js';
export * from './codec.js';
export * from './errors.js';
export * from './frames.js';
export * from './gen/tandem/v1/bus_pb.js';
export * from './gen/tandem/v1/common_pb.js';
export * from './gen/tandem/v1/content_pb.js';
export * from './gen/tandem/v1/frames_pb.js';
export * from './limits.js';
export * from './subjects.js';
export { ALL_MESSAGE_SCHEMAS, validateMessage } from './validate.js';
