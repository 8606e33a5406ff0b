-- Account self-service: changing the email or mobile, and resetting or changing the login
-- password. Two new code purposes, and notices (a contact replaced) that carry no code.
ALTER TABLE verification_challenges DROP CONSTRAINT verification_challenges_purpose_check;
ALTER TABLE verification_challenges ADD CONSTRAINT verification_challenges_purpose_check
    CHECK (purpose IN ('CONFIRM_CONTACT', 'SET_PAYMENT_PIN', 'ACTIVATE_MANDATE',
                       'CHANGE_CONTACT', 'RESET_PASSWORD'));
ALTER TABLE outbox ALTER COLUMN challenge_id DROP NOT NULL;
-- A password reset or change ends every session.
ALTER TABLE sessions DROP CONSTRAINT sessions_revoke_reason_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_revoke_reason_check
    CHECK (revoke_reason IN ('LOGOUT', 'REFRESH_TOKEN_REUSED', 'PASSWORD_RESET',
                             'PASSWORD_CHANGED'));
