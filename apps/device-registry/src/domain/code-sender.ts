import type { Logger } from '@tandem/service-kit';

/** Delivers a verification code to the owner of a handle (SMS, e-mail, ...). Pluggable. */
export interface CodeSender {
  send(handle: string, code: string, expiresAt: Date): Promise<void>;
}

/**
 * The built-in sender: writes the code to the log at info level, under `verificationCode` (the
 * logger redacts a field named `code`). For development and demos only; production plugs in a
 * real sender.
 */
export class LogCodeSender implements CodeSender {
  constructor(private readonly logger: Logger) {}
  async send(handle: string, code: string, expiresAt: Date): Promise<void> {
    this.logger.info(
      { handle, verificationCode: code, expiresAt: expiresAt.toISOString() },
      'verification code sent',
    );
  }
}

/** Keeps the last code per handle in memory: what tests read instead of the log. */
export class InMemoryCodeSender implements CodeSender {
  readonly sent = new Map<string, string>();
  async send(handle: string, code: string): Promise<void> {
    this.sent.set(handle, code);
  }
}
