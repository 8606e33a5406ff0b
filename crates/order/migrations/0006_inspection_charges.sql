-- The inspection fee's charge to the buyer's wallet: one charge id per order, claimed before
-- wallet is asked and reused by every attempt until it answers, so a fee is charged once
-- whatever the request ids (a refusal deletes the claim).
CREATE TABLE inspection_charges (
    order_id   uuid PRIMARY KEY REFERENCES orders,
    charge_id  uuid NOT NULL,
    claimed_at timestamptz NOT NULL
);
