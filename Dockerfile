# syntax=docker/dockerfile:1.7
#
# One Dockerfile, one target per deployable:
#
#   docker build --target gateway         -t tandem/gateway:dev .
#   docker build --target device-registry -t tandem/device-registry:dev .
#   docker build --target delivery        -t tandem/delivery:dev .
#   docker build --target migrate         -t tandem/migrate:dev .
#
# Stages: pruner (turbo prune --docker: the three services and their workspace dependencies;
# json/ holds their package.json files, full/ their sources, package-lock.json the pruned
# lockfile beside them) -> deps (npm ci, every dependency, for building) -> build (turbo: proto's buf
# generate, the registry's prisma generate, tsc everywhere, dependencies first) -> prod-deps-*
# (npm ci --omit=dev for one workspace) -> one small runtime stage per service holding only that
# service, the dist of its workspace dependencies and its production node_modules.
#
# Image names follow the convention tandem/<target>; infra/test/images.test.ts checks that every
# image Compose or Kubernetes names is one of these targets (or a pinned third-party image).
# This file has not been built on the machines it was written on (no Docker engine runs there):
# see docs/operations.md, "What was executed here".

ARG NODE_IMAGE=node:22-alpine3.22
ARG TURBO_VERSION=2.11.11
ARG NPM_VERSION=11.19.1

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS base
ARG NPM_VERSION
# The lockfile is written by npm 11 (package.json "packageManager"); build with the same major.
RUN npm install --global --no-audit --no-fund "npm@${NPM_VERSION}"
ENV CI=true \
    TURBO_TELEMETRY_DISABLED=1 \
    DO_NOT_TRACK=1
WORKDIR /repo

# ---------------------------------------------------------------------------------------------
# The workspace packages the three services need, and nothing else (no sdk, no infra).
FROM base AS pruner
ARG TURBO_VERSION
COPY . .
RUN npx --yes "turbo@${TURBO_VERSION}" prune \
      @tandem/gateway @tandem/device-registry @tandem/delivery \
      --docker --out-dir /pruned

# ---------------------------------------------------------------------------------------------
# Every dependency (dev ones included: typescript, turbo, buf, prisma). Only the package.json
# files and the lockfile are copied first, so this layer is cached until a dependency changes.
# Install scripts stay off, as on the development machines: nothing depends on one.
FROM base AS deps
COPY --from=pruner /pruned/json/ ./
COPY --from=pruner /pruned/package-lock.json ./package-lock.json
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund

# ---------------------------------------------------------------------------------------------
# turbo runs `generate` (buf for packages/proto, `prisma generate` for the registry, which works
# offline in WebAssembly once PRISMA_SCHEMA_ENGINE_BINARY names any file - its npm script sets
# it) and then `build` in dependency order.
FROM deps AS build
COPY --from=pruner /pruned/full/ ./
# turbo prune copies the workspaces, not the root files their tsconfigs extend.
COPY --from=pruner /repo/tsconfig.base.json ./tsconfig.base.json
RUN npx turbo run build \
      --filter=@tandem/gateway --filter=@tandem/device-registry --filter=@tandem/delivery

# ---------------------------------------------------------------------------------------------
# Production node_modules, one workspace at a time: only its own and its workspace
# dependencies' runtime dependencies (workspace packages become links into packages/ and apps/).
FROM base AS prod-deps-gateway
COPY --from=pruner /pruned/json/ ./
COPY --from=pruner /pruned/package-lock.json ./package-lock.json
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace=@tandem/gateway

FROM base AS prod-deps-device-registry
COPY --from=pruner /pruned/json/ ./
COPY --from=pruner /pruned/package-lock.json ./package-lock.json
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace=@tandem/device-registry
# Prisma Client ships a WebAssembly query compiler per database (about 10 MB each) and source
# maps; the registry loads only PostgreSQL's.
RUN find node_modules/@prisma/client/runtime -type f \
      \( -name '*.map' -o \( -name 'query_compiler_*' ! -name '*postgresql*' \) \) -delete

FROM base AS prod-deps-delivery
COPY --from=pruner /pruned/json/ ./
COPY --from=pruner /pruned/package-lock.json ./package-lock.json
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace=@tandem/delivery

# ---------------------------------------------------------------------------------------------
# Common runtime: no npm, no build tools, the unprivileged `node` user of the base image, named
# by number (USER 1000:1000) so Kubernetes' runAsNonRoot can verify it. Node.js runs as PID 1
# and handles SIGTERM itself (service-kit's installShutdown).
FROM ${NODE_IMAGE} AS runtime
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /opt/yarn* /usr/local/bin/yarn /usr/local/bin/yarnpkg
ENV NODE_ENV=production
WORKDIR /app

# ---------------------------------------------------------------------------------------------
# The public WebSocket gateway: PORT 8080 (path /v1/ws), ops server on 9100.
FROM runtime AS gateway
COPY --from=prod-deps-gateway --chown=root:root /repo/node_modules ./node_modules
COPY --from=prod-deps-gateway --chown=root:root /repo/packages/proto ./packages/proto
COPY --from=prod-deps-gateway --chown=root:root /repo/packages/crypto ./packages/crypto
COPY --from=prod-deps-gateway --chown=root:root /repo/packages/service-kit ./packages/service-kit
COPY --from=prod-deps-gateway --chown=root:root /repo/apps/gateway ./apps/gateway
COPY --from=build --chown=root:root /repo/packages/proto/dist ./packages/proto/dist
COPY --from=build --chown=root:root /repo/packages/crypto/dist ./packages/crypto/dist
COPY --from=build --chown=root:root /repo/packages/service-kit/dist ./packages/service-kit/dist
COPY --from=build --chown=root:root /repo/apps/gateway/dist ./apps/gateway/dist
WORKDIR /app/apps/gateway
USER 1000:1000
EXPOSE 8080 9100
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9100/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]

# ---------------------------------------------------------------------------------------------
# The device registry: Postgres through Prisma Client (adapter-pg, query compiler in
# WebAssembly: no native engine), ops server on 9101. prisma/migrations ships beside dist so
# the migration runner (and MIGRATE_ON_START) finds it at ../../prisma/migrations.
FROM runtime AS device-registry
COPY --from=prod-deps-device-registry --chown=root:root /repo/node_modules ./node_modules
COPY --from=prod-deps-device-registry --chown=root:root /repo/packages/proto ./packages/proto
COPY --from=prod-deps-device-registry --chown=root:root /repo/packages/crypto ./packages/crypto
COPY --from=prod-deps-device-registry --chown=root:root /repo/packages/service-kit ./packages/service-kit
COPY --from=prod-deps-device-registry --chown=root:root /repo/apps/device-registry ./apps/device-registry
COPY --from=build --chown=root:root /repo/packages/proto/dist ./packages/proto/dist
COPY --from=build --chown=root:root /repo/packages/crypto/dist ./packages/crypto/dist
COPY --from=build --chown=root:root /repo/packages/service-kit/dist ./packages/service-kit/dist
COPY --from=build --chown=root:root /repo/apps/device-registry/dist ./apps/device-registry/dist
COPY --from=build --chown=root:root /repo/apps/device-registry/prisma ./apps/device-registry/prisma
WORKDIR /app/apps/device-registry
USER 1000:1000
EXPOSE 9101
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9101/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]

# ---------------------------------------------------------------------------------------------
# One-shot schema migration (Compose's `migrate` service, Kubernetes' migrate Job): the registry
# image with the migration runner as its command. Needs only DATABASE_URL.
FROM device-registry AS migrate
HEALTHCHECK NONE
CMD ["node", "dist/db/migrate-cli.js"]

# ---------------------------------------------------------------------------------------------
# Delivery: per-device ciphertext queues in Redis (Lua scripts loaded from ../../lua at start),
# ops server on 9102.
FROM runtime AS delivery
COPY --from=prod-deps-delivery --chown=root:root /repo/node_modules ./node_modules
COPY --from=prod-deps-delivery --chown=root:root /repo/packages/proto ./packages/proto
COPY --from=prod-deps-delivery --chown=root:root /repo/packages/service-kit ./packages/service-kit
COPY --from=prod-deps-delivery --chown=root:root /repo/apps/delivery ./apps/delivery
COPY --from=build --chown=root:root /repo/packages/proto/dist ./packages/proto/dist
COPY --from=build --chown=root:root /repo/packages/service-kit/dist ./packages/service-kit/dist
COPY --from=build --chown=root:root /repo/apps/delivery/dist ./apps/delivery/dist
COPY --from=build --chown=root:root /repo/apps/delivery/lua ./apps/delivery/lua
WORKDIR /app/apps/delivery
USER 1000:1000
EXPOSE 9102
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9102/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]
