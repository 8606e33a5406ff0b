-- The orders schema: orders and their audit trail, PayOrders payments (the saga), the
-- wallet operations order still owes (escrow captures and releases, refund transfers,
-- remittance links), and the rule tables the seeds give (data, not code).
-- Amounts are NUMERIC(28,4), as in the wallet.

-- ---------------------------------------------------------------------------------------
-- Orders
-- ---------------------------------------------------------------------------------------

-- Order numbers are a bijective scramble of this sequence (see domain::number).
CREATE SEQUENCE order_number_seq;

-- One row per order. `doc` is the kuajing.order.v1.Order message (protobuf), the source
-- of truth; the other columns are copies of its fields for filtering, sorting and the
-- background loops, rewritten with it in the same statement.
CREATE TABLE orders (
    order_id                uuid PRIMARY KEY,
    order_number            text NOT NULL UNIQUE,
    kind                    smallint NOT NULL,   -- kuajing.order.v1.OrderKind
    status                  smallint NOT NULL,   -- kuajing.order.v1.OrderStatus
    supplier_account_id     uuid NOT NULL,
    buyer_account_id        uuid,
    buyer_email             text NOT NULL DEFAULT '',  -- lower case
    buyer_name              text NOT NULL DEFAULT '',  -- lower case
    buyer_member_id         text NOT NULL DEFAULT '',  -- lower case
    buyer_region_code       text NOT NULL DEFAULT '',
    marketplace_code        smallint NOT NULL DEFAULT 0,
    external_order_id       text NOT NULL DEFAULT '',
    currency                text NOT NULL,
    total_amount            numeric(28, 4) NOT NULL,
    destination_region_code text NOT NULL DEFAULT '',
    export_method           smallint NOT NULL DEFAULT 0,
    shipping_method         smallint NOT NULL DEFAULT 0,
    payment_method          smallint NOT NULL DEFAULT 0,
    salesperson             text NOT NULL DEFAULT '',
    product_text            text NOT NULL DEFAULT '',  -- product names, contract goods; lower case
    pending_payment_id      uuid,
    paid_at                 timestamptz,
    auto_confirm_at         timestamptz,
    expire_at               timestamptz,
    version                 bigint NOT NULL,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    doc                     bytea NOT NULL
);
CREATE UNIQUE INDEX orders_external_id ON orders (marketplace_code, external_order_id)
    WHERE external_order_id <> '';
CREATE INDEX orders_by_supplier ON orders (supplier_account_id, created_at DESC, order_id DESC);
CREATE INDEX orders_by_buyer ON orders (buyer_account_id, created_at DESC, order_id DESC);
CREATE INDEX orders_auto_confirm ON orders (auto_confirm_at) WHERE auto_confirm_at IS NOT NULL;
CREATE INDEX orders_expire ON orders (expire_at) WHERE expire_at IS NOT NULL;
-- The cross-border pay history of a buyer (fee tiers).
CREATE INDEX orders_cross_border_history ON orders (buyer_account_id, paid_at)
    WHERE payment_method = 1 AND paid_at IS NOT NULL;

-- The audit trail: `doc` is the kuajing.order.v1.OrderEvent message.
CREATE TABLE order_events (
    event_id   uuid PRIMARY KEY,
    order_id   uuid NOT NULL REFERENCES orders (order_id),
    sequence   bigint NOT NULL,
    type       smallint NOT NULL,  -- kuajing.order.v1.OrderEventType
    created_at timestamptz NOT NULL,
    doc        bytea NOT NULL,
    UNIQUE (order_id, sequence)
);

-- ---------------------------------------------------------------------------------------
-- Payments (the PayOrders saga)
-- ---------------------------------------------------------------------------------------

-- `doc` is the kuajing.order.v1.Payment message with every step. A driver (the PayOrders
-- call, or the recovery loop) holds the lease while it works; every write checks it.
CREATE TABLE payments (
    payment_id       uuid PRIMARY KEY,
    request_id       uuid NOT NULL UNIQUE,
    request_hash     bytea NOT NULL,   -- SHA-256 of the request without the PIN
    state            smallint NOT NULL,  -- kuajing.order.v1.PaymentState
    buyer_account_id uuid NOT NULL,
    failure_domain   text NOT NULL DEFAULT '',
    lease_owner      uuid,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    doc              bytea NOT NULL
);
CREATE INDEX payments_unfinished ON payments (lease_until) WHERE state IN (1, 2, 4);

-- A documented, test-only fault hook for the saga (see ops::faults): a row makes the
-- payment of `payment_request_id` fail or halt at one point of one step. Honoured only when
-- KJ_ORDER_FAULT_INJECTION is on (the default of debug builds only); no RPC writes here.
CREATE TABLE payment_fault_plans (
    fault_id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    payment_request_id uuid NOT NULL,
    step_kind          smallint NOT NULL,  -- kuajing.order.v1.PaymentStepKind
    order_index        integer,            -- 0-based order of the request; NULL = any
    point              text NOT NULL CHECK (point IN ('BEFORE_CALL', 'AFTER_CALL', 'AFTER_STEP')),
    action             text NOT NULL CHECK (action IN ('FAIL', 'HALT')),
    consumed_at        timestamptz
);
CREATE INDEX payment_fault_plans_request ON payment_fault_plans (payment_request_id);

-- ---------------------------------------------------------------------------------------
-- Wallet operations order owes (an outbox, retried until done)
-- ---------------------------------------------------------------------------------------

-- `request` is the encoded wallet request (CaptureHoldRequest, ReleaseHoldRequest,
-- CreateTransferRequest or LinkRemittanceRequest); its request_id is operation_id.
-- `caller_method`/`caller_request` keep the order RPC that asked for it, so whoever
-- finishes the operation records that RPC's idempotent answer.
CREATE TABLE wallet_operations (
    operation_id    uuid PRIMARY KEY,
    order_id        uuid NOT NULL REFERENCES orders (order_id),
    kind            smallint NOT NULL,  -- 1 capture, 2 release, 3 transfer, 4 remittance link
    refund_id       uuid,
    target          smallint NOT NULL DEFAULT 0,  -- remittance link: PaymentTarget
    amount          numeric(28, 4) NOT NULL DEFAULT 0,
    request         bytea NOT NULL,
    caller_request_id uuid,
    caller_method   text NOT NULL DEFAULT '',
    caller_request  bytea,
    state           smallint NOT NULL,  -- 1 pending, 2 done, 3 refused
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    result_id       text NOT NULL DEFAULT '',
    next_attempt_at timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX wallet_operations_pending ON wallet_operations (next_attempt_at) WHERE state = 1;
CREATE INDEX wallet_operations_by_order ON wallet_operations (order_id);
CREATE UNIQUE INDEX wallet_operations_by_caller ON wallet_operations (caller_request_id)
    WHERE caller_request_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------
-- Rule tables (read at start; change them and restart the service)
-- ---------------------------------------------------------------------------------------

-- Cross-border pay fee tiers (seed 003), by the applicable monthly amount in CNY.
CREATE TABLE fee_tiers (
    lower_bound  numeric(28, 4) PRIMARY KEY,
    upper_bound  numeric(28, 4),           -- exclusive; NULL for the top tier
    rate_percent numeric(10, 6) NOT NULL
);
INSERT INTO fee_tiers (lower_bound, upper_bound, rate_percent) VALUES
    (0,        100000,   0.20),
    (100000,   3000000,  0.15),
    (3000000,  10000000, 0.08),
    (10000000, 25000000, 0.03),
    (25000000, 80000000, 0.02),
    (80000000, NULL,     0.015);

-- Payment methods with their fees and limits (seed 001/004 for marketplace orders, the
-- seed 002 table for Trade Assurance, T/T and D/P for Direct Pay). Enum columns hold
-- kuajing.order.v1 values: payment_method (PaymentMethod), order_kinds (OrderKind),
-- settlement (PaymentSettlement 1 wallet escrow, 2 remittance, 3 external).
CREATE TABLE payment_method_schedules (
    payment_method      smallint NOT NULL,
    variant             text NOT NULL DEFAULT '',
    order_kinds         smallint[] NOT NULL,
    settlement          smallint NOT NULL,
    payment_currencies  text[] NOT NULL DEFAULT '{}',
    local_currency_only boolean NOT NULL DEFAULT false,
    per_payment_limit   numeric(28, 4),
    monthly_limit       numeric(28, 4),
    limit_currency      text NOT NULL DEFAULT 'USD',
    fee_percent         numeric(10, 6),
    fee_fixed_min       numeric(28, 4),
    fee_fixed_max       numeric(28, 4),
    fee_cap             numeric(28, 4),
    fee_currency        text NOT NULL DEFAULT 'USD',
    fee_cap_condition   text NOT NULL DEFAULT '',
    bank_dependent      boolean NOT NULL DEFAULT false,
    tiered              boolean NOT NULL DEFAULT false,
    processing_time     text NOT NULL DEFAULT '',
    buyer_region_codes  text[] NOT NULL DEFAULT '{}',
    enabled             boolean NOT NULL DEFAULT true,
    position            integer NOT NULL,
    PRIMARY KEY (payment_method, variant, position)
);
INSERT INTO payment_method_schedules
    (position, payment_method, variant, order_kinds, settlement, payment_currencies, local_currency_only,
     per_payment_limit, monthly_limit, limit_currency, fee_percent, fee_fixed_min, fee_fixed_max,
     fee_cap, fee_currency, fee_cap_condition, bank_dependent, tiered, processing_time, buyer_region_codes)
VALUES
    -- Marketplace orders: cross-border pay (tiered), World Pay 0.8 %, card 1.0 %, Alipay.
    (1,  1,  '', '{1}', 1, '{}', false, 10000000, NULL, 'USD', NULL, NULL, NULL, NULL, 'USD', '', false, true, 'Instant', '{}'),
    (2,  2,  '', '{1}', 1, '{}', false, NULL, NULL, 'USD', 0.8, NULL, NULL, NULL, 'USD', '', false, false, 'Instant', '{}'),
    (3,  3,  '', '{1}', 3, '{}', false, NULL, NULL, 'USD', 1.0, NULL, NULL, NULL, 'USD', '', false, false, 'Instant', '{}'),
    (4,  5,  '', '{1}', 3, '{CNY}', false, NULL, NULL, 'USD', NULL, NULL, NULL, NULL, 'USD', '', false, false, 'Instant', '{CN}'),
    -- Trade Assurance (seed 002 table).
    (10, 3,  '', '{2}', 2, '{}', false, 12000, NULL, 'USD', 2.95, NULL, NULL, 40, 'USD',
         'Asia-Pacific-issued Mastercard, USD payments', false, false, '1-2 hours', '{}'),
    (11, 4,  '', '{2}', 2, '{}', false, 12000, NULL, 'USD', 3.5, NULL, NULL, NULL, 'USD', '', false, false, '1-2 hours', '{}'),
    (12, 6,  '', '{2}', 2, '{}', true, 300000, NULL, 'USD', NULL, 15, 30, NULL, 'USD', '', false, false, '1-2 business days', '{}'),
    (13, 7,  'US_ACCOUNT', '{2}', 2, '{USD}', false, 50000, NULL, 'USD', NULL, 15, 30, NULL, 'USD', '', false, false, '4-5 business days', '{}'),
    (14, 7,  'EU_ACCOUNT', '{2}', 2, '{EUR}', false, 50000, NULL, 'USD', NULL, 15, 30, NULL, 'EUR', '', false, false, '9-10 business days', '{}'),
    (15, 8,  '', '{2}', 2, '{}', true, 300000, NULL, 'USD', NULL, 1, NULL, NULL, 'USD', '', true, false, '1-2 business days', '{}'),
    (16, 9,  '', '{2}', 2, '{}', false, NULL, NULL, 'USD', NULL, 40, NULL, NULL, 'USD', '', true, false, '3-7 business days', '{}'),
    (17, 10, '', '{2}', 2, '{USD}', false, 2500, NULL, 'USD', NULL, 4.90, 45.00, NULL, 'USD', '', false, false, '1 business day', '{}'),
    (18, 11, '', '{2}', 2, '{USD}', false, NULL, 3000, 'USD', 1.30, NULL, NULL, NULL, 'USD', '', false, false, '3-4 business days', '{}'),
    -- Direct Pay: T/T and D/P, fees charged by the banks.
    (20, 12, '', '{3}', 2, '{}', false, NULL, NULL, 'USD', NULL, NULL, NULL, NULL, 'USD', '', true, false, '1-5 business days', '{}'),
    (21, 13, '', '{3}', 2, '{}', false, NULL, NULL, 'USD', NULL, NULL, NULL, NULL, 'USD', '', true, false, 'On presentation of documents', '{}');

-- Export method service fees (seed 002): self-export and convenient shipping 1-2 % capped
-- at USD 100 (1 % for paid members, 2 % for free members), agent export 1.2 % capped at
-- RMB 480; market procurement has none. export_method: kuajing.order.v1.ExportMethod;
-- membership: kuajing.identity.v1.SupplierMembership (0 = any).
CREATE TABLE export_fee_rules (
    export_method smallint NOT NULL,
    membership    smallint NOT NULL DEFAULT 0,
    rate_percent  numeric(10, 6) NOT NULL,
    cap_amount    numeric(28, 4),
    cap_currency  text NOT NULL DEFAULT 'USD',
    PRIMARY KEY (export_method, membership)
);
INSERT INTO export_fee_rules (export_method, membership, rate_percent, cap_amount, cap_currency) VALUES
    (1, 2, 1.0, 100, 'USD'),
    (1, 1, 2.0, 100, 'USD'),
    (2, 0, 1.2, 480, 'CNY'),
    (4, 2, 1.0, 100, 'USD'),
    (4, 1, 2.0, 100, 'USD');

-- The value-added inspection service price list (seed 002: from USD 48).
CREATE TABLE inspection_prices (
    provider_code text PRIMARY KEY,   -- '' = the platform chooses
    price         numeric(28, 4) NOT NULL,
    currency      text NOT NULL DEFAULT 'USD'
);
INSERT INTO inspection_prices (provider_code, price, currency) VALUES ('', 48, 'USD'), ('SGS', 48, 'USD');

-- Destinations where Trade Assurance and Direct Pay orders are refused (seed 002): Iran,
-- North Korea, Syria, Cuba, Sudan, Egypt, Crimea (ISO 3166-2 UA-43, with Sevastopol UA-40).
CREATE TABLE refused_destinations (
    region_code      text NOT NULL,
    subdivision_code text NOT NULL DEFAULT '',   -- '' = the whole region
    PRIMARY KEY (region_code, subdivision_code)
);
INSERT INTO refused_destinations (region_code, subdivision_code) VALUES
    ('IR', ''), ('KP', ''), ('SY', ''), ('CU', ''), ('SD', ''), ('EG', ''),
    ('UA', 'UA-43'), ('UA', 'UA-40');

-- Non-blocking destination warnings (seed 002: Myanmar is allowed, but collection is not
-- guaranteed).
CREATE TABLE destination_warnings (
    region_code text PRIMARY KEY,
    code        text NOT NULL,
    message     text NOT NULL
);
INSERT INTO destination_warnings (region_code, code, message) VALUES
    ('MM', 'DESTINATION_COLLECTION_RISK',
     'Orders to Myanmar are allowed, but the banks cannot guarantee that payment is collected.');

-- Email domains of mainland China: an entry starting with "." is a suffix.
CREATE TABLE mainland_email_domains (
    domain text PRIMARY KEY
);
INSERT INTO mainland_email_domains (domain) VALUES
    ('.cn'), ('qq.com'), ('foxmail.com'), ('163.com'), ('126.com'), ('yeah.net'),
    ('sina.com'), ('sohu.com'), ('aliyun.com'), ('139.com'), ('189.cn');
