-- A fault plan may also slow a step's call down (DELAY: the call takes delay_ms longer),
-- to test what a slow peer does to the saga's lease.
ALTER TABLE payment_fault_plans DROP CONSTRAINT payment_fault_plans_action_check;
ALTER TABLE payment_fault_plans
    ADD CONSTRAINT payment_fault_plans_action_check CHECK (action IN ('FAIL', 'HALT', 'DELAY')),
    ADD COLUMN delay_ms integer NOT NULL DEFAULT 0 CHECK (delay_ms >= 0);
