-- Operators are people: a grant is for an operator (acts) or an auditor (reads the
-- operator audit log only), and each signs in with a second factor.
ALTER TABLE operator_grants
    ADD COLUMN role text NOT NULL DEFAULT 'OPERATOR' CHECK (role IN ('OPERATOR', 'AUDITOR'));

-- The TOTP secret of an operator or auditor, sealed (XChaCha20-Poly1305 under a key derived
-- from the server secret, bound to the account): a copy of this table alone yields no code.
-- confirmed_at: the first sign-in with a code; before it, enrolling again replaces the
-- secret. last_step: the 30-second step of the last code accepted, so none is used twice.
CREATE TABLE operator_factors (
    account_id    uuid        PRIMARY KEY REFERENCES accounts,
    sealed_secret bytea       NOT NULL,
    enrolled_at   timestamptz NOT NULL,
    confirmed_at  timestamptz,
    last_step     bigint
);
