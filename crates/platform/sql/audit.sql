CREATE TABLE IF NOT EXISTS operator_actions (
    entry_id  uuid        PRIMARY KEY,
    action_id uuid        NOT NULL,
    phase     text        NOT NULL CHECK (phase IN ('REQUESTED', 'ANSWERED')),
    at        timestamptz NOT NULL,
    caller    text        NOT NULL,
    person    uuid,
    method    text        NOT NULL,
    request   jsonb,
    code      integer,
    UNIQUE (action_id, phase)
);
ALTER TABLE operator_actions ADD COLUMN IF NOT EXISTS subject uuid;
CREATE INDEX IF NOT EXISTS operator_actions_by_time ON operator_actions (at, action_id)
    WHERE phase = 'REQUESTED';
CREATE OR REPLACE FUNCTION operator_actions_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the operator audit log is append-only'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE OR REPLACE TRIGGER operator_actions_append_only
    BEFORE UPDATE OR DELETE ON operator_actions
    FOR EACH ROW EXECUTE FUNCTION operator_actions_append_only();
CREATE OR REPLACE TRIGGER operator_actions_no_truncate
    BEFORE TRUNCATE ON operator_actions
    FOR EACH STATEMENT EXECUTE FUNCTION operator_actions_append_only()
