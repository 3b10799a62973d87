// Shared jest configuration: ESM mode, TypeScript through @swc/jest with legacy decorators and
// decorator metadata (NestJS needs both), workspace packages resolved to their TypeScript source
// through the "@tandem/source" export condition, so tests never need a prior build.
// Unit tests live in test/unit, integration tests (real Postgres, Redis, NATS) in test/integration.

import { fileURLToPath } from 'node:url';

/** @param {import('jest').Config} overrides */
export function jestConfig(overrides = {}) {
  return {
    testEnvironment: 'node',
    extensionsToTreatAsEsm: ['.ts'],
    moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
    testMatch: ['<rootDir>/test/**/*.test.ts'],
    transform: {
      '^.+\\.ts$': [
        '@swc/jest',
        {
          jsc: {
            parser: { syntax: 'typescript', decorators: true },
            transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
            target: 'es2023',
            keepClassNames: true,
          },
          module: { type: 'es6' },
          sourceMaps: 'inline',
        },
      ],
    },
    moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
    testEnvironmentOptions: { customExportConditions: ['@tandem/source', 'node', 'node-addons'] },
    reporters: [
      'default',
      [fileURLToPath(new URL('./scripts/jest-summary-reporter.cjs', import.meta.url)), {}],
    ],
    testTimeout: 20_000,
    ...overrides,
  };
}
