import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { installShutdown } from '../../src/lifecycle.js';
import { createLogger } from '../../src/logger.js';

const silent = createLogger({ service: 't', level: 'silent' });

describe('installShutdown', () => {
  it('runs every step in order, once, then exits 0', async () => {
    const order: string[] = [];
    const exits: number[] = [];
    const { shutdown } = installShutdown(
      silent,
      [
        { name: 'drain', run: async () => void order.push('drain') },
        { name: 'close', run: () => void order.push('close') },
      ],
      { timeoutMs: 1000, exit: (c) => exits.push(c) },
    );
    await Promise.all([shutdown('test'), shutdown('again')]);
    expect(order).toEqual(['drain', 'close']);
    expect(exits).toEqual([0]);
  });

  it('keeps going after a failing step and exits 1', async () => {
    const order: string[] = [];
    const exits: number[] = [];
    const { shutdown } = installShutdown(
      silent,
      [
        {
          name: 'bad',
          run: () => {
            throw new Error('x');
          },
        },
        { name: 'close', run: () => void order.push('close') },
      ],
      { timeoutMs: 1000, exit: (c) => exits.push(c) },
    );
    await shutdown('test');
    expect(order).toEqual(['close']);
    expect(exits).toEqual([1]);
  });

  it('forces exit 1 when steps outlast the timeout', async () => {
    const exits: number[] = [];
    const { shutdown } = installShutdown(silent, [{ name: 'stuck', run: () => new Promise(() => {}) }], {
      timeoutMs: 30,
      exit: (c) => exits.push(c),
    });
    void shutdown('test');
    await new Promise((r) => setTimeout(r, 80));
    expect(exits).toEqual([1]);
  });
});

describe('createLogger', () => {
  it('writes JSON lines with the service name and redacts secret fields', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const logger = createLogger({ service: 'svc', level: 'info', destination });
    logger.info({ ciphertext: 'c1', privateKey: 'k', nested: { secret: 's' }, deviceId: 2 }, 'hello');
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ service: 'svc', msg: 'hello', deviceId: 2 });
    expect(line.ciphertext).toBe('[redacted]');
    expect(line.privateKey).toBe('[redacted]');
    expect(line.nested.secret).toBe('[redacted]');
  });
});
