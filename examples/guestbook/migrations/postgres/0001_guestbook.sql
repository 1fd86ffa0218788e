-- The guestbook on PostgreSQL (examples/guestbook/migrations/sqlite has the
-- same schema for SQLite). Applied once by `sqlx::migrate!` at start.

CREATE TABLE entries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    -- The name lower-cased and trimmed: one entry per name and day.
    name_key TEXT NOT NULL,
    message TEXT NOT NULL,
    -- Unix seconds, and the UTC day (created_at / 86400).
    created_at BIGINT NOT NULL,
    day BIGINT NOT NULL,
    UNIQUE (name_key, day)
);

-- Counters bumped in the same transaction as the row they count.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

INSERT INTO counters (name, value) VALUES ('entries', 0);
