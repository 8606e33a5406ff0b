-- Enrolling an operator's second factor needs a code sent to the account's verified email,
-- not the password alone.
ALTER TABLE verification_challenges DROP CONSTRAINT verification_challenges_purpose_check;
ALTER TABLE verification_challenges ADD CONSTRAINT verification_challenges_purpose_check
    CHECK (purpose IN ('CONFIRM_CONTACT', 'SET_PAYMENT_PIN', 'ACTIVATE_MANDATE',
                       'CHANGE_CONTACT', 'RESET_PASSWORD', 'ENROLL_OPERATOR_FACTOR'));
