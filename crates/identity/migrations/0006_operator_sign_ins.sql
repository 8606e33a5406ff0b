-- An operator's or auditor's sign-in is a session too, so that signing out (or losing the
-- grant) ends its token everywhere: the services poll ListRevokedSessions. signed_in_as
-- names the grant it was made under; people's own sessions leave it NULL.
ALTER TABLE sessions
    ADD COLUMN signed_in_as text CHECK (signed_in_as IN ('OPERATOR', 'AUDITOR'));
ALTER TABLE sessions DROP CONSTRAINT sessions_revoke_reason_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_revoke_reason_check
    CHECK (revoke_reason IN ('LOGOUT', 'REFRESH_TOKEN_REUSED', 'PASSWORD_RESET',
                             'PASSWORD_CHANGED', 'GRANT_REMOVED'));
