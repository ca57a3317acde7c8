-- Issue 13: the tenant rate limit holds for the whole deployment. Each
-- replica writes a heartbeat here (`ratelimit::shared`) and counts the
-- replicas seen recently; it then admits 1/N of every tenant's quota.
-- Times are the database's clock, so replicas' clocks do not matter.
CREATE TABLE rate_limit_replicas (
    replica TEXT COLLATE "C" PRIMARY KEY,
    seen_at TIMESTAMPTZ NOT NULL
);
