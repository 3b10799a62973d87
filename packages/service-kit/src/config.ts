import { z } from 'zod';

/** Thrown when the environment does not satisfy a service's configuration schema. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    /** The environment variable at fault. */
    readonly variable: string,
    readonly reason: string,
  ) {
    super(`invalid configuration: ${variable}: ${reason}`);
  }
}

/**
 * Parses the environment once, at boot, against a zod object whose keys are the variable names.
 * The first bad or missing variable fails with a ConfigError naming it; nothing else in a service
 * reads process.env.
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<S> {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    picked[key] = value === '' ? undefined : value;
  }
  const result = schema.safeParse(picked);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const variable = String(issue.path[0] ?? '(unknown)');
    const reason = picked[variable] === undefined ? 'is required' : issue.message;
    throw new ConfigError(variable, reason);
  }
  return result.data;
}

/** Reusable field types for service configuration. */
export const env = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  url: (protocols: readonly string[], fallback?: string) => {
    const base = z.string().refine(
      (v) => {
        try {
          return protocols.includes(new URL(v).protocol.replace(/:$/, ''));
        } catch {
          return false;
        }
      },
      { message: `must be a URL with scheme ${protocols.join(' or ')}` },
    );
    return fallback === undefined ? base : base.default(fallback);
  },
  /** Comma-separated list of URLs, e.g. several NATS servers. */
  urls: (protocols: readonly string[], fallback: string) =>
    z
      .string()
      .default(fallback)
      .refine(
        (v) =>
          v.split(',').every((u) => {
            try {
              return protocols.includes(new URL(u.trim()).protocol.replace(/:$/, ''));
            } catch {
              return false;
            }
          }),
        { message: `must be comma-separated URLs with scheme ${protocols.join(' or ')}` },
      )
      .transform((v) => v.split(',').map((u) => u.trim())),
  millis: (fallback: number) => z.coerce.number().int().positive().default(fallback),
  int: (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
    z.coerce.number().int().min(min).max(max).default(fallback),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** NATS subject prefix: dot-separated tokens of letters, digits, '_' and '-'. */
  subjectPrefix: (fallback: string) =>
    z
      .string()
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be dot-separated tokens of [A-Za-z0-9_-]')
      .default(fallback),
  bool: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0'])
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1'),
  string: (fallback?: string) =>
    fallback === undefined ? z.string().min(1) : z.string().min(1).default(fallback),
};
