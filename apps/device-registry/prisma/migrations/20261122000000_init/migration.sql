-- CreateEnum
CREATE TYPE "LinkStatus" AS ENUM ('PENDING', 'APPROVED', 'COMPLETED', 'CANCELLED');

-- CreateTable
CREATE TABLE "accounts" (
    "id" UUID NOT NULL,
    "handle" TEXT NOT NULL,
    "next_device_id" INTEGER NOT NULL DEFAULT 2,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "accounts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "verification_codes" (
    "id" UUID NOT NULL,
    "handle" TEXT NOT NULL,
    "salt" BYTEA NOT NULL,
    "code_hash" BYTEA NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "consumed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "verification_codes_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "devices" (
    "account_id" UUID NOT NULL,
    "device_id" INTEGER NOT NULL,
    "is_primary" BOOLEAN NOT NULL,
    "identity_key" BYTEA NOT NULL,
    "registration_id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "platform" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "linked_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    "identity_details" BYTEA,
    "account_signature" BYTEA,
    "device_signature" BYTEA,
    "prekeys_low_notified" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "devices_pkey" PRIMARY KEY ("account_id","device_id")
);

-- CreateTable
CREATE TABLE "signed_prekeys" (
    "account_id" UUID NOT NULL,
    "device_id" INTEGER NOT NULL,
    "key_id" INTEGER NOT NULL,
    "public_key" BYTEA NOT NULL,
    "signature" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "signed_prekeys_pkey" PRIMARY KEY ("account_id","device_id")
);

-- CreateTable
CREATE TABLE "one_time_prekeys" (
    "account_id" UUID NOT NULL,
    "device_id" INTEGER NOT NULL,
    "key_id" INTEGER NOT NULL,
    "public_key" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "one_time_prekeys_pkey" PRIMARY KEY ("account_id","device_id","key_id")
);

-- CreateTable
CREATE TABLE "pq_prekeys" (
    "account_id" UUID NOT NULL,
    "device_id" INTEGER NOT NULL,
    "key_id" INTEGER NOT NULL,
    "last_resort" BOOLEAN NOT NULL,
    "public_key" BYTEA NOT NULL,
    "signature" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "pq_prekeys_pkey" PRIMARY KEY ("account_id","device_id","key_id")
);

-- CreateTable
CREATE TABLE "link_sessions" (
    "id" UUID NOT NULL,
    "identity_key" BYTEA NOT NULL,
    "ephemeral_key" BYTEA NOT NULL,
    "registration_id" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "platform" TEXT NOT NULL,
    "status" "LinkStatus" NOT NULL DEFAULT 'PENDING',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "account_id" UUID,
    "approved_by_device_id" INTEGER,
    "device_id" INTEGER,

    CONSTRAINT "link_sessions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "device_lists" (
    "account_id" UUID NOT NULL,
    "list_bytes" BYTEA NOT NULL,
    "signature" BYTEA NOT NULL,
    "version" BIGINT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "device_lists_pkey" PRIMARY KEY ("account_id")
);

-- CreateTable
CREATE TABLE "rate_limit_buckets" (
    "key" TEXT NOT NULL,
    "tokens" DOUBLE PRECISION NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "rate_limit_buckets_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE UNIQUE INDEX "accounts_handle_key" ON "accounts"("handle");

-- CreateIndex
CREATE INDEX "verification_codes_handle_created_at_idx" ON "verification_codes"("handle", "created_at");

-- CreateIndex
CREATE INDEX "verification_codes_expires_at_idx" ON "verification_codes"("expires_at");

-- CreateIndex
CREATE INDEX "devices_is_primary_last_seen_at_idx" ON "devices"("is_primary", "last_seen_at");

-- CreateIndex
CREATE INDEX "pq_prekeys_account_id_device_id_last_resort_key_id_idx" ON "pq_prekeys"("account_id", "device_id", "last_resort", "key_id");

-- CreateIndex
CREATE INDEX "link_sessions_expires_at_idx" ON "link_sessions"("expires_at");

-- CreateIndex
CREATE INDEX "rate_limit_buckets_updated_at_idx" ON "rate_limit_buckets"("updated_at");

-- AddForeignKey
ALTER TABLE "devices" ADD CONSTRAINT "devices_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "signed_prekeys" ADD CONSTRAINT "signed_prekeys_account_id_device_id_fkey" FOREIGN KEY ("account_id", "device_id") REFERENCES "devices"("account_id", "device_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "one_time_prekeys" ADD CONSTRAINT "one_time_prekeys_account_id_device_id_fkey" FOREIGN KEY ("account_id", "device_id") REFERENCES "devices"("account_id", "device_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "pq_prekeys" ADD CONSTRAINT "pq_prekeys_account_id_device_id_fkey" FOREIGN KEY ("account_id", "device_id") REFERENCES "devices"("account_id", "device_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "device_lists" ADD CONSTRAINT "device_lists_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE CASCADE ON UPDATE CASCADE;
