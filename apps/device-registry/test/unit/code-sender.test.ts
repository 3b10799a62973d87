import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { createLogger } from '@tandem/service-kit';
import { LogCodeSender } from '../../src/domain/code-sender.js';

describe('LogCodeSender', () => {
  it('logs "verification code sent" with the code under verificationCode, which the logger does not redact', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ service: 't', level: 'info', destination });
    await new LogCodeSender(logger).send('alice', '123456', new Date(0));
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({
      msg: 'verification code sent',
      handle: 'alice',
      verificationCode: '123456',
      level: 30,
    });
    // The same value under `code` would be redacted: the reason for the field name.
    logger.info({ code: '123456' }, 'x');
    expect(JSON.parse(lines[1]!).code).toBe('[redacted]');
  });
});
