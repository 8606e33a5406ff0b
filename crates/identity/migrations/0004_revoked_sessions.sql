-- Edge polls the sessions revoked since its last look (ListRevokedSessions).
CREATE INDEX sessions_by_revocation ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
