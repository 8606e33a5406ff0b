-- The identity schema. Objects are created unqualified: the service's connections have
-- their search_path set to its own schema (see kuajing_platform::db::connect), and the
-- platform created `idempotency_records` there before this runs.
--
-- Secrets are never stored in plaintext: passwords and PINs as argon2id PHC strings,
-- verification codes as keyed BLAKE2b hashes, refresh tokens not at all (a refresh token
-- is re-derived from its id with a server key, see src/secrets.rs), document numbers
-- encrypted. The one exception is `outbox`, the development sender's stand-in for an
-- email or SMS provider (see src/sender.rs).

-- Server-side secrets generated on first start when configuration supplies none.
CREATE TABLE service_secrets (
    name       text        PRIMARY KEY,
    secret     bytea       NOT NULL CHECK (length(secret) >= 32),
    created_at timestamptz NOT NULL
);

-- Ed25519 keys that sign access tokens. NEXT is published before it signs (so verifiers
-- have it cached by the time it does), SIGNING signs now (exactly one), RETIRED is
-- published until not_after. `seed` is NULL for a key supplied by configuration.
CREATE TABLE signing_keys (
    key_id       uuid        PRIMARY KEY,
    kid          text        NOT NULL UNIQUE,
    public_key   bytea       NOT NULL CHECK (length(public_key) = 32),
    seed         bytea       CHECK (length(seed) = 32),
    state        text        NOT NULL CHECK (state IN ('NEXT', 'SIGNING', 'RETIRED')),
    created_at   timestamptz NOT NULL,
    activated_at timestamptz,
    retired_at   timestamptz,
    not_after    timestamptz,
    CHECK (state <> 'SIGNING' OR (activated_at IS NOT NULL AND retired_at IS NULL)),
    CHECK (state <> 'RETIRED' OR not_after IS NOT NULL)
);
CREATE UNIQUE INDEX signing_keys_one_signing ON signing_keys ((true)) WHERE state = 'SIGNING';

CREATE TABLE accounts (
    account_id          uuid        PRIMARY KEY,
    member_name         text        NOT NULL,
    -- NFKC + case folded member name: uniqueness is case-insensitive.
    member_name_key     text        NOT NULL CONSTRAINT accounts_member_name_unique UNIQUE,
    account_type        text        NOT NULL CHECK (account_type IN ('PERSONAL', 'BUSINESS')),
    role                text        NOT NULL CHECK (role IN ('BUYER', 'SUPPLIER')),
    region_code         text        NOT NULL CHECK (region_code ~ '^[A-Z]{2}$'),
    display_name        text        NOT NULL DEFAULT '',
    email               text,
    email_key           text        CONSTRAINT accounts_email_unique UNIQUE,
    email_verified      boolean     NOT NULL DEFAULT false,
    mobile              text        CONSTRAINT accounts_mobile_unique UNIQUE,
    mobile_verified     boolean     NOT NULL DEFAULT false,
    -- argon2id PHC string.
    password_hash       text        NOT NULL,
    login_failure_count integer     NOT NULL DEFAULT 0 CHECK (login_failure_count >= 0),
    login_locked_until  timestamptz,
    real_name_status    text        NOT NULL DEFAULT 'NOT_SUBMITTED'
        CHECK (real_name_status IN ('NOT_SUBMITTED', 'PENDING', 'VERIFIED', 'REJECTED')),
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CHECK (email IS NOT NULL OR mobile IS NOT NULL),
    CHECK ((email IS NULL) = (email_key IS NULL))
);

-- Operators, granted by configuration only (KJ_IDENTITY_OPERATOR_ACCOUNT_IDS); the service
-- makes this table match the configuration at start.
CREATE TABLE operator_grants (
    account_id uuid        PRIMARY KEY REFERENCES accounts,
    granted_at timestamptz NOT NULL
);

CREATE TABLE verification_challenges (
    challenge_id    uuid        PRIMARY KEY,
    account_id      uuid        NOT NULL REFERENCES accounts,
    channel         text        NOT NULL CHECK (channel IN ('EMAIL', 'SMS')),
    purpose         text        NOT NULL
        CHECK (purpose IN ('CONFIRM_CONTACT', 'SET_PAYMENT_PIN', 'ACTIVATE_MANDATE')),
    reference       text        NOT NULL DEFAULT '',
    -- The address the code went to: a code confirms that address only, so it stops
    -- applying if the account's contact changes.
    destination     text        NOT NULL,
    -- Keyed BLAKE2b of (challenge id, code).
    code_hash       bytea       NOT NULL CHECK (length(code_hash) = 32),
    -- EXPIRED is derived from expire_at and the clock, never stored.
    state           text        NOT NULL CHECK (state IN ('PENDING', 'CONSUMED', 'EXHAUSTED', 'SUPERSEDED')),
    failed_attempts integer     NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    created_at      timestamptz NOT NULL,
    expire_at       timestamptz NOT NULL,
    resend_at       timestamptz NOT NULL,
    consumed_at     timestamptz
);
CREATE INDEX verification_challenges_live
    ON verification_challenges (account_id, purpose, reference, created_at DESC)
    WHERE state = 'PENDING';

-- The development sender's deliveries: each row is an email or SMS that a real sender
-- would have handed to a provider. It holds the rendered message, code included, so a
-- person running the platform locally can complete every flow.
CREATE TABLE outbox (
    message_id   uuid        PRIMARY KEY,
    challenge_id uuid        NOT NULL REFERENCES verification_challenges,
    channel      text        NOT NULL,
    destination  text        NOT NULL,
    subject      text        NOT NULL,
    body         text        NOT NULL,
    created_at   timestamptz NOT NULL
);

-- A session is a refresh token family.
CREATE TABLE sessions (
    session_id    uuid        PRIMARY KEY,
    account_id    uuid        NOT NULL REFERENCES accounts,
    -- Roles at login, carried by every access token of the session.
    roles         text[]      NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoke_reason text        CHECK (revoke_reason IN ('LOGOUT', 'REFRESH_TOKEN_REUSED'))
);
CREATE INDEX sessions_active ON sessions (account_id) WHERE revoked_at IS NULL;

-- One row per issued refresh token. The token itself is not stored: it is derived from
-- token_id with a server key, so an issued pair can be re-derived for a replayed request.
CREATE TABLE refresh_tokens (
    token_id   uuid        PRIMARY KEY,
    session_id uuid        NOT NULL REFERENCES sessions,
    generation integer     NOT NULL CHECK (generation >= 0),
    issued_at  timestamptz NOT NULL,
    -- The access token issued with it (re-signed identically on a replay).
    access_jti uuid        NOT NULL,
    kid        text        NOT NULL,
    used_at    timestamptz,
    UNIQUE (session_id, generation)
);

CREATE TABLE payment_pins (
    account_id    uuid        PRIMARY KEY REFERENCES accounts,
    -- argon2id PHC string, keyed with a server pepper.
    pin_hash      text        NOT NULL,
    failure_count integer     NOT NULL DEFAULT 0 CHECK (failure_count >= 0),
    locked_until  timestamptz,
    set_at        timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE real_name_verifications (
    real_name_verification_id uuid        PRIMARY KEY,
    account_id                uuid        NOT NULL REFERENCES accounts,
    subject_type              text        NOT NULL
        CHECK (subject_type IN ('INDIVIDUAL', 'ENTERPRISE', 'LEGAL_REPRESENTATIVE')),
    legal_name                text        NOT NULL,
    document_type             text        NOT NULL,
    -- Shown masked; kept encrypted (XChaCha20-Poly1305: nonce || ciphertext).
    document_number_masked    text        NOT NULL,
    document_number_sealed    bytea       NOT NULL,
    document_region_code      text        NOT NULL,
    birth_date                date,
    nationality_region_code   text        NOT NULL DEFAULT '',
    document_expire_date      date,
    document_photo_refs       text[]      NOT NULL,
    status                    text        NOT NULL CHECK (status IN ('PENDING', 'VERIFIED', 'REJECTED')),
    rejection_reason          text        NOT NULL DEFAULT '',
    reviewer_account_id       uuid,
    created_at                timestamptz NOT NULL,
    review_time               timestamptz
);
-- At most one submission awaits review per account.
CREATE UNIQUE INDEX real_name_verifications_one_pending
    ON real_name_verifications (account_id) WHERE status = 'PENDING';
CREATE INDEX real_name_verifications_by_account
    ON real_name_verifications (account_id, created_at DESC);
CREATE INDEX real_name_verifications_by_status
    ON real_name_verifications (status, created_at);

CREATE TABLE linked_accounts (
    linked_account_id     uuid        PRIMARY KEY,
    account_id            uuid        NOT NULL REFERENCES accounts,
    marketplace           text        NOT NULL CHECK (marketplace IN ('1688', 'ALIBABA_COM')),
    external_member_id    text        NOT NULL,
    external_account_type text        CHECK (external_account_type IN ('PERSONAL', 'BUSINESS')),
    status                text        NOT NULL CHECK (status IN ('BOUND_UNVERIFIED', 'BOUND_VERIFIED', 'UNBOUND')),
    created_at            timestamptz NOT NULL,
    verify_time           timestamptz,
    unbind_time           timestamptz,
    unbind_reason         text        NOT NULL DEFAULT '',
    unbound_by            uuid
);
-- One marketplace member id is bound to at most one account at a time.
CREATE UNIQUE INDEX linked_accounts_one_current_binding
    ON linked_accounts (marketplace, external_member_id) WHERE status <> 'UNBOUND';
CREATE INDEX linked_accounts_by_account ON linked_accounts (account_id, created_at DESC);

CREATE TABLE supplier_profiles (
    account_id               uuid        PRIMARY KEY REFERENCES accounts,
    -- Accounts of one company share it; serious IP complaints are counted across them.
    company_id               uuid        NOT NULL,
    company_name             text        NOT NULL DEFAULT '',
    membership               text        NOT NULL DEFAULT 'FREE' CHECK (membership IN ('FREE', 'PAID')),
    trustpass_active         boolean     NOT NULL DEFAULT false,
    cross_border_pay_enabled boolean     NOT NULL DEFAULT false,
    bad_credit_record        boolean     NOT NULL DEFAULT false,
    violation_points         integer     NOT NULL DEFAULT 0 CHECK (violation_points BETWEEN 0 AND 10000),
    risk_flags               text[]      NOT NULL DEFAULT '{}',
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL
);
CREATE INDEX supplier_profiles_by_company ON supplier_profiles (company_id);

CREATE TABLE ip_complaints (
    ip_complaint_id     uuid        PRIMARY KEY,
    account_id          uuid        NOT NULL REFERENCES supplier_profiles,
    -- The company at the time of recording (for the record; counts use the current one).
    company_id          uuid        NOT NULL,
    complaint_reference text        NOT NULL,
    serious             boolean     NOT NULL,
    description         text        NOT NULL DEFAULT '',
    complaint_time      timestamptz NOT NULL,
    created_at          timestamptz NOT NULL,
    CONSTRAINT ip_complaints_reference_unique UNIQUE (account_id, complaint_reference)
);

CREATE TABLE security_events (
    security_event_id uuid        PRIMARY KEY,
    account_id        uuid        NOT NULL REFERENCES accounts,
    type              text        NOT NULL,
    actor_account_id  uuid,
    actor_service     text        NOT NULL DEFAULT '',
    client_ip         text        NOT NULL DEFAULT '',
    user_agent        text        NOT NULL DEFAULT '',
    -- String keys and values; never a secret.
    details           jsonb       NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL
);
CREATE INDEX security_events_by_account
    ON security_events (account_id, created_at DESC, security_event_id DESC);
