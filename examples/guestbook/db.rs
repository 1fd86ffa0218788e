//! The guestbook's database: one `sqlx::AnyPool` over SQLite (a file,
//! created on first run) or PostgreSQL, chosen by the URL at run time.
//!
//! `Any` is sqlx's driver that forwards to the real one: the same queries
//! run on both, so the app has one code path. That suits the types this
//! schema uses (integers and text; times are Unix seconds); an app that
//! wants a backend's own types (`timestamptz`, `jsonb`) uses its pool
//! (`PgPool`) instead. Placeholders are `$1`, `$2`, which both accept.
//!
//! Every function here is plain sqlx: Mizan is not involved.

use serde::Serialize;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{MigrateDatabase, Migrator};
use std::time::{SystemTime, UNIX_EPOCH};

/// The schema of each backend, embedded at compile time; the two folders
/// differ only in how `id` counts up.
static SQLITE: Migrator = sqlx::migrate!("examples/guestbook/migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("examples/guestbook/migrations/postgres");

/// How many entries the `entries` context lists (the latest).
pub(crate) const LATEST: i64 = 20;

/// The pool, kept as the app's state (`cx.state::<Db>()`).
#[derive(Clone, Debug)]
pub(crate) struct Db {
    pub(crate) pool: AnyPool,
}

/// One entry of the guestbook.
#[derive(Debug, Serialize, schemars::JsonSchema, sqlx::FromRow)]
pub(crate) struct Entry {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) message: String,
    /// When it was written, in Unix seconds.
    pub(crate) created_at: i64,
}

/// The numbers the `entry_count` context shows.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct Count {
    /// Every entry ever written (the `counters` row).
    pub(crate) total: i64,
    /// Entries written today (UTC).
    pub(crate) today: i64,
}

/// What `sign` fails with besides the database itself.
#[derive(Debug)]
pub(crate) enum SignError {
    /// This name has signed today already (the unique index said so).
    AlreadySigned,
    Db(sqlx::Error),
}

impl Db {
    /// Connects to `url` (`sqlite:guestbook.db`, `postgres://…`), creating
    /// the database when it does not exist, and applies the migrations.
    pub(crate) async fn open(url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        if !sqlx::Any::database_exists(url).await? {
            sqlx::Any::create_database(url).await?;
        }
        let pool = AnyPoolOptions::new().max_connections(5).connect(url).await?;
        let migrator = if url.starts_with("sqlite:") { &SQLITE } else { &POSTGRES };
        migrator.run(&pool).await?;
        Ok(Self { pool })
    }

    /// A pool that connects only when first used, for `--print-manifest`,
    /// which must not touch (or create) the database.
    pub(crate) fn lazy(url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        Ok(Self {
            pool: AnyPoolOptions::new().connect_lazy(url)?,
        })
    }

    /// The latest entries, newest first.
    pub(crate) async fn latest(&self) -> Result<Vec<Entry>, sqlx::Error> {
        sqlx::query_as("SELECT id, name, message, created_at FROM entries ORDER BY id DESC LIMIT $1")
            .bind(LATEST)
            .fetch_all(&self.pool)
            .await
    }

    /// The counts.
    pub(crate) async fn count(&self) -> Result<Count, sqlx::Error> {
        let total: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE name = 'entries'")
            .fetch_one(&self.pool)
            .await?;
        let today: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM entries WHERE day = $1")
            .bind(now() / DAY)
            .fetch_one(&self.pool)
            .await?;
        Ok(Count { total, today })
    }

    /// Whether `name` has signed today.
    pub(crate) async fn signed_today(&self, name: &str) -> Result<bool, sqlx::Error> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM entries WHERE name_key = $1 AND day = $2")
            .bind(name_key(name))
            .bind(now() / DAY)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// Writes an entry and bumps the counter, in one transaction: both or
    /// neither. Two tabs signing with one name at once both pass the
    /// form's check; the unique index on `(name_key, day)` lets one in.
    pub(crate) async fn sign(&self, name: &str, message: &str) -> Result<Entry, SignError> {
        let created_at = now();
        let mut tx = self.pool.begin().await.map_err(SignError::Db)?;
        let entry: Entry = sqlx::query_as(
            "INSERT INTO entries (name, name_key, message, created_at, day) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, name, message, created_at",
        )
        .bind(name)
        .bind(name_key(name))
        .bind(message)
        .bind(created_at)
        .bind(created_at / DAY)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => SignError::AlreadySigned,
            e => SignError::Db(e),
        })?;
        sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'entries'")
            .execute(&mut *tx)
            .await
            .map_err(SignError::Db)?;
        tx.commit().await.map_err(SignError::Db)?;
        Ok(entry)
    }
}

const DAY: i64 = 86_400;

/// The key "once a day" is counted by: `" Ann "` and `"ann"` are one name.
fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Now, in Unix seconds.
fn now() -> i64 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    i64::try_from(secs).unwrap_or(i64::MAX)
}
