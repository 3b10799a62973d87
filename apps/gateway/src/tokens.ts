/** Injection tokens for values that are not classes. */
export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');
export const LOGGER = Symbol('LOGGER');
export const NATS = Symbol('NATS');
/** The gateway's object graph (core.ts): services wired to their clients. */
export const GATEWAY_CORE = Symbol('GATEWAY_CORE');
