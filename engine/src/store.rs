//! The engine's storage: sqlx on SQLite (WAL, migrations, one file under the
//! data directory), with SQL kept portable to PostgreSQL (plain types, no
//! SQLite-only functions in queries).
//!
//! Secrets are never written in clear: columns ending in `_enc` hold what the
//! [`Keyring`](crate::crypt::Keyring) sealed. Signals are rows appended in one
//! transaction each, so concurrent signals to the same handle cannot overwrite
//! each other, and a signal is acknowledged only after its row is committed.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use heatgate_engine::store::Store;
//! let store = Store::in_memory().await.unwrap();
//! assert!(store.stacks_of_tenant("p1").await.unwrap().is_empty());
//! # });
//! ```

mod read_cache;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use read_cache::{Key, ReadCache, Value};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, SqlitePool};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A storage failure (the database file, a migration, a query).
#[derive(Debug, thiserror::Error)]
#[error("engine database error: {0}")]
pub struct StoreError(#[from] sqlx::Error);

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError(sqlx::Error::Migrate(Box::new(e)))
    }
}

/// An event to write (see [`Store::record_signal`]).
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The resource (or the stack's name, for the stack itself).
    pub resource_name: String,
    /// Its type.
    pub resource_type: String,
    /// Its physical id.
    pub physical_id: Option<String>,
    /// `SIGNAL`, `CREATE`, ...
    pub action: String,
    /// `COMPLETE`, ...
    pub status: String,
    /// The event's reason.
    pub reason: String,
}

async fn insert_event(
    connection: &mut sqlx::SqliteConnection,
    stack_id: &str,
    e: &NewEvent,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO events (id, stack_id, resource_name, resource_type, physical_id, action, \
         status, reason, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(stack_id)
    .bind(&e.resource_name)
    .bind(&e.resource_type)
    .bind(&e.physical_id)
    .bind(&e.action)
    .bind(&e.status)
    .bind(&e.reason)
    .bind(now())
    .execute(connection)
    .await?;
    Ok(())
}

impl StoreError {
    /// Whether the database refused a row that would repeat a unique key (a
    /// live stack's name in its project).
    pub fn is_unique_violation(&self) -> bool {
        self.0
            .as_database_error()
            .is_some_and(|e| e.is_unique_violation())
    }
}

type Result<T> = std::result::Result<T, StoreError>;

/// Locks `<database>.lock` for this process, or says who holds it.
fn lock_exclusively(database: &Path) -> Result<std::fs::File> {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = std::path::PathBuf::from(name);
    let refused = |message: String| StoreError(sqlx::Error::Configuration(message.into()));
    let failed = |e: std::io::Error| refused(format!("cannot lock {}: {e}", lock_path.display()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(failed)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(refused(format!(
            "{} is in use by another engine process (it holds {}); one engine per database",
            database.display(),
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(failed(e)),
    }
}

/// Now, as stored: `2026-01-02T03:04:05Z`.
pub fn now() -> String {
    let t = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    t.format(&Rfc3339).unwrap_or_default()
}

/// A stack.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct StackRow {
    /// Stack id (uuid).
    pub id: String,
    /// Stack name.
    pub name: String,
    /// The owner's project.
    pub tenant: String,
    /// The user who created it.
    pub owner_user_id: String,
    /// Their name.
    pub owner_user_name: Option<String>,
    /// The stack domain project, once created.
    pub stack_user_project_id: Option<String>,
    /// CREATE, DELETE, CHECK, ...
    pub action: String,
    /// IN_PROGRESS, COMPLETE, FAILED.
    pub status: String,
    /// Why.
    pub status_reason: String,
    /// The template, as JSON text.
    pub template: String,
    /// The parameters given, as JSON text.
    pub parameters: String,
    /// Create timeout in minutes.
    pub timeout_mins: Option<i64>,
    /// "trusts", "password" or "none".
    pub deferred_auth_method: String,
    /// The trust id, sealed.
    pub trust_id_enc: Option<String>,
    /// The owner's password (password mode), sealed.
    pub password_enc: Option<String>,
    /// Created.
    pub created_at: String,
    /// Last updated.
    pub updated_at: Option<String>,
    /// Deleted (rows are kept after delete, as Heat does).
    pub deleted_at: Option<String>,
    /// The template's description (`None` for rows stored before it was kept).
    pub description: Option<String>,
}

impl StackRow {
    /// `"CREATE_COMPLETE"`.
    pub fn stack_status(&self) -> String {
        format!("{}_{}", self.action, self.status)
    }

    /// The template's description (from the template for older rows).
    pub fn template_description(&self) -> Option<String> {
        match &self.description {
            Some(d) => Some(d.clone()),
            None => crate::template::parse(&self.template)
                .ok()
                .and_then(|t| t.description),
        }
    }

    /// The description a stack's body shows: the template's, or Heat's
    /// "No description" when the template has none (or an empty one).
    pub fn template_description_or_default(&self) -> String {
        self.template_description()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "No description".to_owned())
    }
}

/// A resource of a stack.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct ResourceRow {
    /// The stack.
    pub stack_id: String,
    /// Logical name.
    pub name: String,
    /// Resource type.
    pub type_name: String,
    /// Action.
    pub action: String,
    /// Status.
    pub status: String,
    /// Why.
    pub status_reason: String,
    /// Physical id.
    pub physical_id: Option<String>,
    /// Evaluated properties, without secrets (JSON object).
    pub properties: String,
    /// Metadata (JSON).
    pub metadata: String,
    /// Non-secret attributes (JSON object).
    pub attributes: String,
    /// The stack domain user bound to this resource.
    pub user_id: Option<String>,
    /// The EC2 access key bound to this resource.
    pub access_key: Option<String>,
    /// Secret data (JSON object), sealed.
    pub data_enc: Option<String>,
    /// Created.
    pub created_at: String,
    /// Updated.
    pub updated_at: Option<String>,
}

impl ResourceRow {
    /// `"CREATE_COMPLETE"`.
    pub fn resource_status(&self) -> String {
        format!("{}_{}", self.action, self.status)
    }
}

/// An event.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct EventRow {
    /// Order of insertion.
    pub seq: i64,
    /// Event id (uuid).
    pub id: String,
    /// The stack.
    pub stack_id: String,
    /// The resource (or the stack name for stack events).
    pub resource_name: String,
    /// Its type.
    pub resource_type: String,
    /// Physical id.
    pub physical_id: Option<String>,
    /// Action.
    pub action: String,
    /// Status.
    pub status: String,
    /// Reason.
    pub reason: String,
    /// When.
    pub created_at: String,
}

impl EventRow {
    /// `"CREATE_COMPLETE"`.
    pub fn resource_status(&self) -> String {
        format!("{}_{}", self.action, self.status)
    }
}

/// A signal received by a resource.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct SignalRow {
    /// Order of arrival.
    pub seq: i64,
    /// The stack.
    pub stack_id: String,
    /// The resource signalled.
    pub resource_name: String,
    /// The signal's id.
    pub signal_id: String,
    /// SUCCESS or FAILURE.
    pub status: String,
    /// Reason.
    pub reason: String,
    /// Data (JSON), if any.
    pub data: Option<String>,
    /// When.
    pub created_at: String,
}

/// A software config.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct ConfigRow {
    /// Id.
    pub id: String,
    /// Owner project.
    pub tenant: String,
    /// Name.
    pub name: String,
    /// The config body (JSON: group, config, inputs, outputs, options).
    pub config: String,
    /// Created.
    pub created_at: String,
}

/// A software deployment.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct DeploymentRow {
    /// Id.
    pub id: String,
    /// Owner project.
    pub tenant: String,
    /// The stack domain project of the stack that made it.
    pub stack_user_project_id: Option<String>,
    /// The server it deploys to.
    pub server_id: String,
    /// The config.
    pub config_id: String,
    /// Action.
    pub action: String,
    /// Status.
    pub status: String,
    /// Reason.
    pub status_reason: String,
    /// Input values (JSON).
    pub input_values: String,
    /// Output values (JSON).
    pub output_values: String,
    /// Created.
    pub created_at: String,
    /// Updated.
    pub updated_at: Option<String>,
}

/// The engine database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// The exclusive lock on `<database>.lock` held while the store lives
    /// (a database file is opened by one engine process at a time: the read
    /// cache relies on being its only writer).
    _lock: Option<Arc<std::fs::File>>,
    /// The hottest reads, until the next write (see `read_cache`).
    cache: Arc<ReadCache>,
}

impl Store {
    /// Opens (creating if needed) the database file at `path` and migrates it.
    ///
    /// Takes an exclusive lock on `<path>.lock` first: a second process
    /// opening the same database gets a clear error instead of a share of it.
    pub async fn open(path: &Path) -> Result<Self> {
        let lock = lock_exclusively(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a committed transaction survives a crash of the
            // process (kill -9); FULL would only add power-loss safety.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let mut store = Self::connect(options, 8).await?;
        store._lock = Some(Arc::new(lock));
        Ok(store)
    }

    /// Opens a database URL (`sqlite://...`).
    pub async fn open_url(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        Self::connect(options, 8).await
    }

    /// Reads the database (a row lookup in the stacks table through the
    /// pool): `Ok` when it can serve, for health checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT COUNT(*) FROM stacks WHERE id = ''")
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }

    /// Closes every connection: later calls fail (shutdown, and tests of
    /// what an unavailable database looks like).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A private in-memory database (tests and examples).
    pub async fn in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        Self::connect(options, 1).await
    }

    async fn connect(options: SqliteConnectOptions, max: u32) -> Result<Self> {
        if max > 1 {
            // Switch to WAL and migrate on ONE connection first: several new
            // connections racing to change the journal mode of a fresh file
            // can fail with "database is locked" (busy_timeout does not cover
            // that switch).
            let first = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            sqlx::migrate!("./migrations").run(&first).await?;
            first.close().await;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            // A local file cannot drop the connection: no ping (a round trip
            // to the connection's worker thread) before every query.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self {
            pool,
            _lock: None,
            cache: Arc::default(),
        })
    }

    /// The raw pool, for reads (and tests that inspect the file). A write
    /// through it would not be seen by the store's read cache: writes are
    /// `Store` methods.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The answer to `key` from the read cache, or `read()` from the
    /// database, remembered for the next reads until a write ends.
    async fn remembered<T, Fut>(
        &self,
        key: Key,
        unpack: fn(Value) -> Option<T>,
        pack: fn(T) -> Value,
        read: impl FnOnce() -> Fut,
    ) -> Result<T>
    where
        T: Clone,
        Fut: std::future::Future<Output = std::result::Result<T, sqlx::Error>>,
    {
        if let Some(found) = self.cache.get(&key).and_then(unpack) {
            return Ok(found);
        }
        // Taken before the read starts: a write ending meanwhile voids it.
        let seen = self.cache.generation();
        let found = read().await?;
        self.cache.put(seen, key, pack(found.clone()));
        Ok(found)
    }

    // ---- stacks -------------------------------------------------------------

    /// Inserts a new stack.
    pub async fn insert_stack(&self, s: &StackRow) -> Result<()> {
        let _written = self.cache.written();
        sqlx::query(
            "INSERT INTO stacks (id, name, tenant, owner_user_id, owner_user_name, \
             stack_user_project_id, action, status, status_reason, template, parameters, \
             timeout_mins, deferred_auth_method, trust_id_enc, password_enc, created_at, \
             updated_at, deleted_at, description) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        )
        .bind(&s.id)
        .bind(&s.name)
        .bind(&s.tenant)
        .bind(&s.owner_user_id)
        .bind(&s.owner_user_name)
        .bind(&s.stack_user_project_id)
        .bind(&s.action)
        .bind(&s.status)
        .bind(&s.status_reason)
        .bind(&s.template)
        .bind(&s.parameters)
        .bind(s.timeout_mins)
        .bind(&s.deferred_auth_method)
        .bind(&s.trust_id_enc)
        .bind(&s.password_enc)
        .bind(&s.created_at)
        .bind(&s.updated_at)
        .bind(&s.deleted_at)
        .bind(&s.description)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A live (not deleted) stack by id.
    pub async fn stack(&self, id: &str) -> Result<Option<StackRow>> {
        self.remembered(
            Key::Stack(id.to_owned()),
            Value::stack,
            Value::Stack,
            || {
                sqlx::query_as("SELECT * FROM stacks WHERE id = ? AND deleted_at IS NULL")
                    .bind(id)
                    .fetch_optional(&self.pool)
            },
        )
        .await
    }

    /// A stack by id, deleted or not.
    pub async fn stack_any(&self, id: &str) -> Result<Option<StackRow>> {
        Ok(sqlx::query_as("SELECT * FROM stacks WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// A live stack by name whose owner project or stack domain project is
    /// `project` (Heat's `stack_get_by_name`).
    pub async fn stack_by_name(&self, name: &str, project: &str) -> Result<Option<StackRow>> {
        let key = Key::StackByName(name.to_owned(), project.to_owned());
        self.remembered(key, Value::stack, Value::Stack, || {
            sqlx::query_as(
                "SELECT * FROM stacks WHERE name = ? AND deleted_at IS NULL \
             AND (tenant = ? OR stack_user_project_id = ?) ORDER BY created_at LIMIT 1",
            )
            .bind(name)
            .bind(project)
            .bind(project)
            .fetch_optional(&self.pool)
        })
        .await
    }

    /// Whether `tenant` already has a live stack called `name`.
    pub async fn name_taken(&self, tenant: &str, name: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM stacks WHERE tenant = ? AND name = ? AND deleted_at IS NULL",
        )
        .bind(tenant)
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// The live stacks of `tenant` (the list is not dual-path), oldest first.
    pub async fn stacks_of_tenant(&self, tenant: &str) -> Result<Vec<StackRow>> {
        self.remembered(
            Key::Tenant(tenant.to_owned()),
            Value::stacks,
            Value::Stacks,
            || {
                sqlx::query_as(
                    "SELECT * FROM stacks WHERE tenant = ? AND deleted_at IS NULL \
                 ORDER BY created_at, id",
                )
                .bind(tenant)
                .fetch_all(&self.pool)
            },
        )
        .await
    }

    /// Every live stack (global index).
    pub async fn all_stacks(&self) -> Result<Vec<StackRow>> {
        Ok(
            sqlx::query_as("SELECT * FROM stacks WHERE deleted_at IS NULL ORDER BY created_at, id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Stacks left IN_PROGRESS (by a previous process).
    pub async fn stacks_in_progress(&self) -> Result<Vec<StackRow>> {
        Ok(sqlx::query_as(
            "SELECT * FROM stacks WHERE status = 'IN_PROGRESS' AND deleted_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Sets a stack's action, status and reason.
    pub async fn set_stack_status(
        &self,
        id: &str,
        action: &str,
        status: &str,
        reason: &str,
    ) -> Result<()> {
        let _written = self.cache.written();
        sqlx::query(
            "UPDATE stacks SET action = ?, status = ?, status_reason = ?, updated_at = ? WHERE id = ?",
        )
        .bind(action)
        .bind(status)
        .bind(reason)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets a stack's status only if it is still `(action, IN_PROGRESS)`;
    /// returns whether it changed (so a late timeout cannot overwrite a result).
    pub async fn finish_stack(
        &self,
        id: &str,
        action: &str,
        status: &str,
        reason: &str,
    ) -> Result<bool> {
        let _written = self.cache.written();
        let done = sqlx::query(
            "UPDATE stacks SET status = ?, status_reason = ?, updated_at = ? \
             WHERE id = ? AND action = ? AND status = 'IN_PROGRESS'",
        )
        .bind(status)
        .bind(reason)
        .bind(now())
        .bind(id)
        .bind(action)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the stack domain project.
    pub async fn set_stack_user_project(&self, id: &str, project: &str) -> Result<()> {
        let _written = self.cache.written();
        sqlx::query("UPDATE stacks SET stack_user_project_id = ? WHERE id = ?")
            .bind(project)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records the sealed trust id.
    pub async fn set_stack_trust(&self, id: &str, trust_id_enc: Option<&str>) -> Result<()> {
        let _written = self.cache.written();
        sqlx::query("UPDATE stacks SET trust_id_enc = ? WHERE id = ?")
            .bind(trust_id_enc)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a stack deleted (the row stays, as in Heat).
    pub async fn mark_stack_deleted(&self, id: &str) -> Result<()> {
        let _written = self.cache.written();
        let t = now();
        sqlx::query(
            "UPDATE stacks SET action = 'DELETE', status = 'COMPLETE', status_reason = \
             'Stack DELETE completed successfully', trust_id_enc = NULL, password_enc = NULL, \
             updated_at = ?, deleted_at = ? WHERE id = ?",
        )
        .bind(&t)
        .bind(&t)
        .bind(id)
        .execute(&self.pool)
        .await?;
        sqlx::query("UPDATE resources SET data_enc = NULL WHERE stack_id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- resources ----------------------------------------------------------

    /// Inserts or replaces a resource.
    pub async fn upsert_resource(&self, r: &ResourceRow) -> Result<()> {
        let _written = self.cache.written();
        sqlx::query(
            "INSERT INTO resources (stack_id, name, type_name, action, status, status_reason, \
             physical_id, properties, metadata, attributes, user_id, access_key, data_enc, \
             created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) \
             ON CONFLICT (stack_id, name) DO UPDATE SET type_name = excluded.type_name, \
             action = excluded.action, status = excluded.status, \
             status_reason = excluded.status_reason, physical_id = excluded.physical_id, \
             properties = excluded.properties, metadata = excluded.metadata, attributes = excluded.attributes, \
             user_id = excluded.user_id, access_key = excluded.access_key, \
             data_enc = excluded.data_enc, updated_at = excluded.updated_at",
        )
        .bind(&r.stack_id)
        .bind(&r.name)
        .bind(&r.type_name)
        .bind(&r.action)
        .bind(&r.status)
        .bind(&r.status_reason)
        .bind(&r.physical_id)
        .bind(&r.properties)
        .bind(&r.metadata)
        .bind(&r.attributes)
        .bind(&r.user_id)
        .bind(&r.access_key)
        .bind(&r.data_enc)
        .bind(&r.created_at)
        .bind(&r.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets a resource's status.
    pub async fn set_resource_status(
        &self,
        stack_id: &str,
        name: &str,
        action: &str,
        status: &str,
        reason: &str,
    ) -> Result<()> {
        let _written = self.cache.written();
        sqlx::query(
            "UPDATE resources SET action = ?, status = ?, status_reason = ?, updated_at = ? \
             WHERE stack_id = ? AND name = ?",
        )
        .bind(action)
        .bind(status)
        .bind(reason)
        .bind(now())
        .bind(stack_id)
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A stack's resources in creation order.
    pub async fn resources(&self, stack_id: &str) -> Result<Vec<ResourceRow>> {
        let key = Key::Resources(stack_id.to_owned());
        self.remembered(key, Value::resources, Value::Resources, || {
            sqlx::query_as("SELECT * FROM resources WHERE stack_id = ? ORDER BY rowid")
                .bind(stack_id)
                .fetch_all(&self.pool)
        })
        .await
    }

    /// One resource.
    pub async fn resource(&self, stack_id: &str, name: &str) -> Result<Option<ResourceRow>> {
        let key = Key::Resource(stack_id.to_owned(), name.to_owned());
        self.remembered(key, Value::resource, Value::Resource, || {
            sqlx::query_as("SELECT * FROM resources WHERE stack_id = ? AND name = ?")
                .bind(stack_id)
                .bind(name)
                .fetch_optional(&self.pool)
        })
        .await
    }

    /// Forgets a stack's domain users and project after they were removed
    /// from Keystone (a rollback of a failed create).
    pub async fn forget_stack_users(&self, stack_id: &str) -> Result<()> {
        let _written = self.cache.written();
        sqlx::query("UPDATE resources SET user_id = NULL, access_key = NULL WHERE stack_id = ?")
            .bind(stack_id)
            .execute(&self.pool)
            .await?;
        sqlx::query("UPDATE stacks SET stack_user_project_id = NULL WHERE id = ?")
            .bind(stack_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes the software deployments of `tenant` whose ids are physical ids
    /// of the stack's resources (the stack's own deployments).
    pub async fn delete_deployments_of_stack(&self, tenant: &str, stack_id: &str) -> Result<()> {
        let _written = self.cache.written();
        sqlx::query(
            "DELETE FROM software_deployments WHERE tenant = ? AND id IN \
             (SELECT physical_id FROM resources WHERE stack_id = ?)",
        )
        .bind(tenant)
        .bind(stack_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Resources of live stacks with this physical id (servers by id).
    pub async fn resources_by_physical_id(&self, physical_id: &str) -> Result<Vec<ResourceRow>> {
        Ok(sqlx::query_as(
            "SELECT r.* FROM resources r JOIN stacks s ON s.id = r.stack_id \
             WHERE r.physical_id = ? AND s.deleted_at IS NULL",
        )
        .bind(physical_id)
        .fetch_all(&self.pool)
        .await?)
    }

    // ---- events -------------------------------------------------------------

    /// Appends an event.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_event(
        &self,
        stack_id: &str,
        resource_name: &str,
        resource_type: &str,
        physical_id: Option<&str>,
        action: &str,
        status: &str,
        reason: &str,
    ) -> Result<()> {
        let _written = self.cache.written();
        let mut connection = self.pool.acquire().await?;
        let event = NewEvent {
            resource_name: resource_name.to_owned(),
            resource_type: resource_type.to_owned(),
            physical_id: physical_id.map(str::to_owned),
            action: action.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
        };
        insert_event(&mut connection, stack_id, &event).await
    }

    /// A stack's events in order.
    pub async fn events(&self, stack_id: &str) -> Result<Vec<EventRow>> {
        Ok(
            sqlx::query_as("SELECT * FROM events WHERE stack_id = ? ORDER BY seq")
                .bind(stack_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    // ---- signals ------------------------------------------------------------

    /// [`record_signal`](Self::record_signal) without an event (tests).
    #[cfg(test)]
    pub(crate) async fn add_signal(
        &self,
        stack_id: &str,
        resource_name: &str,
        signal_id: Option<&str>,
        status: &str,
        reason: Option<&str>,
        data: Option<&str>,
    ) -> Result<SignalRow> {
        self.record_signal(
            stack_id,
            resource_name,
            signal_id,
            status,
            reason,
            data,
            |_| None,
        )
        .await
        .map(|(row, _)| row)
    }

    /// Appends a signal to the history and makes it the latest of its id;
    /// `signal_id` `None` takes the next number (Heat's default id: the
    /// number of distinct ids so far + 1, so a default id can replace an
    /// explicit one, as in Heat), counted in the same transaction. The event
    /// `event` describes for the stored row is written in that transaction
    /// too (a signal is never recorded without its event, nor the other way
    /// round). Returns the stored row and `true`; a signal with an explicit
    /// id that repeats the latest of that id exactly (status, reason and
    /// data: a client retrying) is not recorded again, and the stored row is
    /// returned with `false`.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_signal(
        &self,
        stack_id: &str,
        resource_name: &str,
        signal_id: Option<&str>,
        status: &str,
        reason: Option<&str>,
        data: Option<&str>,
        event: impl FnOnce(&SignalRow) -> Option<NewEvent>,
    ) -> Result<(SignalRow, bool)> {
        let _written = self.cache.written();
        let mut tx = self.pool.begin().await?;
        // Take the write lock first, so the count cannot race.
        sqlx::query("UPDATE resources SET updated_at = ? WHERE stack_id = ? AND name = ?")
            .bind(now())
            .bind(stack_id)
            .bind(resource_name)
            .execute(&mut *tx)
            .await?;
        if let Some(id) = signal_id {
            let latest: Option<SignalRow> = sqlx::query_as(
                "SELECT seq, stack_id, resource_name, signal_id, status, reason, data, \
                 created_at FROM signal_latest \
                 WHERE stack_id = ? AND resource_name = ? AND signal_id = ?",
            )
            .bind(stack_id)
            .bind(resource_name)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(latest) = latest {
                let same_reason = reason.is_none_or(|r| r == latest.reason);
                if latest.status == status && same_reason && latest.data.as_deref() == data {
                    tx.rollback().await?;
                    return Ok((latest, false));
                }
            }
        }
        // Heat: len(metadata) + 1, the number of distinct ids so far + 1.
        let n: i64 = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM signal_latest WHERE stack_id = ? AND resource_name = ?",
        )
        .bind(stack_id)
        .bind(resource_name)
        .fetch_one(&mut *tx)
        .await?
            + 1;
        let id = signal_id
            .map(str::to_owned)
            .unwrap_or_else(|| n.to_string());
        let reason = reason
            .map(str::to_owned)
            .unwrap_or_else(|| format!("Signal {n} received"));
        let row: SignalRow = sqlx::query_as(
            "INSERT INTO signals (stack_id, resource_name, signal_id, status, reason, data, \
             created_at) VALUES (?,?,?,?,?,?,?) RETURNING *",
        )
        .bind(stack_id)
        .bind(resource_name)
        .bind(&id)
        .bind(status)
        .bind(&reason)
        .bind(data)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO signal_latest (stack_id, resource_name, signal_id, first_seq, seq, \
             status, reason, data, created_at) VALUES (?,?,?,?,?,?,?,?,?) \
             ON CONFLICT (stack_id, resource_name, signal_id) DO UPDATE SET \
             seq = excluded.seq, status = excluded.status, reason = excluded.reason, \
             data = excluded.data, created_at = excluded.created_at",
        )
        .bind(&row.stack_id)
        .bind(&row.resource_name)
        .bind(&row.signal_id)
        .bind(row.seq)
        .bind(row.seq)
        .bind(&row.status)
        .bind(&row.reason)
        .bind(&row.data)
        .bind(&row.created_at)
        .execute(&mut *tx)
        .await?;
        if let Some(e) = event(&row) {
            insert_event(&mut tx, stack_id, &e).await?;
        }
        tx.commit().await?;
        Ok((row, true))
    }

    /// The latest signal of each id a resource received, in the order the
    /// ids first arrived: what Heat's handle metadata holds (a later signal
    /// with the same id replaces the earlier one in place).
    pub async fn latest_signals(
        &self,
        stack_id: &str,
        resource_name: &str,
    ) -> Result<Vec<SignalRow>> {
        let key = Key::Signals(stack_id.to_owned(), resource_name.to_owned());
        self.remembered(key, Value::signals, Value::Signals, || {
            sqlx::query_as(
                "SELECT seq, stack_id, resource_name, signal_id, status, reason, data, \
                 created_at FROM signal_latest WHERE stack_id = ? AND resource_name = ? \
                 ORDER BY first_seq",
            )
            .bind(stack_id)
            .bind(resource_name)
            .fetch_all(&self.pool)
        })
        .await
    }

    /// Every signal a resource received, in order (the full history).
    pub async fn signals(&self, stack_id: &str, resource_name: &str) -> Result<Vec<SignalRow>> {
        Ok(sqlx::query_as(
            "SELECT * FROM signals WHERE stack_id = ? AND resource_name = ? ORDER BY seq",
        )
        .bind(stack_id)
        .bind(resource_name)
        .fetch_all(&self.pool)
        .await?)
    }

    // ---- software configs and deployments -----------------------------------

    /// Inserts a software config.
    pub async fn insert_config(&self, c: &ConfigRow) -> Result<()> {
        let _written = self.cache.written();
        sqlx::query(
            "INSERT INTO software_configs (id, tenant, name, config, created_at) VALUES (?,?,?,?,?)",
        )
        .bind(&c.id)
        .bind(&c.tenant)
        .bind(&c.name)
        .bind(&c.config)
        .bind(&c.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A software config by id.
    pub async fn config(&self, id: &str) -> Result<Option<ConfigRow>> {
        self.remembered(
            Key::Config(id.to_owned()),
            Value::config,
            Value::Config,
            || {
                sqlx::query_as("SELECT * FROM software_configs WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&self.pool)
            },
        )
        .await
    }

    /// Software configs of a tenant.
    pub async fn configs_of_tenant(&self, tenant: &str) -> Result<Vec<ConfigRow>> {
        Ok(sqlx::query_as(
            "SELECT * FROM software_configs WHERE tenant = ? ORDER BY created_at, id",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes a software config.
    pub async fn delete_config(&self, id: &str) -> Result<()> {
        let _written = self.cache.written();
        sqlx::query("DELETE FROM software_configs WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Inserts a software deployment.
    pub async fn insert_deployment(&self, d: &DeploymentRow) -> Result<()> {
        let _written = self.cache.written();
        sqlx::query(
            "INSERT INTO software_deployments (id, tenant, stack_user_project_id, server_id, \
             config_id, action, status, status_reason, input_values, output_values, created_at, \
             updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        )
        .bind(&d.id)
        .bind(&d.tenant)
        .bind(&d.stack_user_project_id)
        .bind(&d.server_id)
        .bind(&d.config_id)
        .bind(&d.action)
        .bind(&d.status)
        .bind(&d.status_reason)
        .bind(&d.input_values)
        .bind(&d.output_values)
        .bind(&d.created_at)
        .bind(&d.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A deployment by id.
    pub async fn deployment(&self, id: &str) -> Result<Option<DeploymentRow>> {
        Ok(
            sqlx::query_as("SELECT * FROM software_deployments WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Deployments visible to `project` (owner project or stack domain project),
    /// optionally for one server.
    pub async fn deployments_for(
        &self,
        project: Option<&str>,
        server_id: Option<&str>,
    ) -> Result<Vec<DeploymentRow>> {
        let key = Key::Deployments(project.map(str::to_owned), server_id.map(str::to_owned));
        self.remembered(key, Value::deployments, Value::Deployments, || {
            sqlx::query_as(
                "SELECT * FROM software_deployments WHERE \
                 (? IS NULL OR tenant = ? OR stack_user_project_id = ?) \
                 AND (? IS NULL OR server_id = ?) ORDER BY created_at, id",
            )
            .bind(project)
            .bind(project)
            .bind(project)
            .bind(server_id)
            .bind(server_id)
            .fetch_all(&self.pool)
        })
        .await
    }

    /// Updates a deployment's status and outputs.
    pub async fn update_deployment(
        &self,
        id: &str,
        status: &str,
        reason: &str,
        output_values: &str,
    ) -> Result<()> {
        let _written = self.cache.written();
        sqlx::query(
            "UPDATE software_deployments SET status = ?, status_reason = ?, output_values = ?, \
             updated_at = ? WHERE id = ?",
        )
        .bind(status)
        .bind(reason)
        .bind(output_values)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes the deployments of a server.
    pub async fn delete_deployments_of_server(&self, server_id: &str) -> Result<()> {
        let _written = self.cache.written();
        sqlx::query("DELETE FROM software_deployments WHERE server_id = ?")
            .bind(server_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_is_opened_by_one_store_at_a_time() {
        let dir = std::env::temp_dir().join(format!(
            "heatgate-store-lock-{}-{}",
            std::process::id(),
            now().replace(':', "")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("engine.db");
        let first = Store::open(&path).await.unwrap();
        let err = Store::open(&path).await.unwrap_err().to_string();
        assert!(err.contains("in use by another engine process"), "{err}");
        assert!(err.contains("engine.db.lock"), "{err}");
        drop(first);
        drop(
            Store::open(&path)
                .await
                .expect("free again once the first is gone"),
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn stack(id: &str, name: &str, tenant: &str) -> StackRow {
        StackRow {
            id: id.into(),
            name: name.into(),
            tenant: tenant.into(),
            owner_user_id: "u1".into(),
            owner_user_name: Some("demo".into()),
            stack_user_project_id: None,
            action: "CREATE".into(),
            status: "IN_PROGRESS".into(),
            status_reason: String::new(),
            template: "{}".into(),
            parameters: "{}".into(),
            timeout_mins: None,
            deferred_auth_method: "trusts".into(),
            trust_id_enc: None,
            password_enc: None,
            created_at: now(),
            updated_at: None,
            deleted_at: None,
            description: None,
        }
    }

    #[tokio::test]
    async fn stacks_are_found_through_both_projects_and_listed_by_tenant_only() {
        let store = Store::in_memory().await.unwrap();
        store.insert_stack(&stack("s1", "web", "p1")).await.unwrap();
        store.set_stack_user_project("s1", "sdp1").await.unwrap();
        assert!(store.stack_by_name("web", "p1").await.unwrap().is_some());
        assert!(store.stack_by_name("web", "sdp1").await.unwrap().is_some());
        assert!(store.stack_by_name("web", "p2").await.unwrap().is_none());
        assert_eq!(store.stacks_of_tenant("p1").await.unwrap().len(), 1);
        assert!(store.stacks_of_tenant("sdp1").await.unwrap().is_empty());
        assert!(store.name_taken("p1", "web").await.unwrap());
        store.mark_stack_deleted("s1").await.unwrap();
        assert!(store.stack("s1").await.unwrap().is_none());
        assert!(!store.name_taken("p1", "web").await.unwrap());
        let gone = store.stack_any("s1").await.unwrap().unwrap();
        assert_eq!(gone.stack_status(), "DELETE_COMPLETE");
    }

    #[tokio::test]
    async fn a_live_name_is_taken_once_per_project_and_older_twins_are_renamed() {
        let store = Store::in_memory().await.unwrap();
        store.insert_stack(&stack("s1", "web", "p1")).await.unwrap();
        let twin = store
            .insert_stack(&stack("s2", "web", "p1"))
            .await
            .unwrap_err();
        assert!(twin.is_unique_violation(), "{twin}");
        store.insert_stack(&stack("s3", "web", "p2")).await.unwrap();
        store.mark_stack_deleted("s1").await.unwrap();
        store.insert_stack(&stack("s4", "web", "p1")).await.unwrap();

        // A database from before the unique index, holding twins already:
        // migrated, the oldest keeps its name and the others are renamed.
        let pool = SqlitePool::connect("sqlite::memory:").await.unwrap();
        let all = sqlx::migrate!("./migrations");
        let before = sqlx::migrate::Migrator {
            migrations: std::borrow::Cow::Owned(all.migrations[..3].to_vec()),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        before.run(&pool).await.unwrap();
        for (id, created) in [("aaaaaaaa-1", "2024-01-01"), ("bbbbbbbb-2", "2024-01-02")] {
            sqlx::query(
                "INSERT INTO stacks (id, name, tenant, owner_user_id, action, status, template, \
                 parameters, deferred_auth_method, created_at) \
                 VALUES (?, 'web', 'p1', 'u', 'CREATE', 'COMPLETE', '{}', '{}', 'trusts', ?)",
            )
            .bind(id)
            .bind(created)
            .execute(&pool)
            .await
            .unwrap();
        }
        all.run(&pool).await.unwrap();
        let names: Vec<(String, String)> =
            sqlx::query_as("SELECT id, name FROM stacks ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(
            names,
            [
                ("aaaaaaaa-1".to_owned(), "web".to_owned()),
                ("bbbbbbbb-2".to_owned(), "web-bbbbbbbb".to_owned())
            ]
        );
    }

    #[tokio::test]
    async fn a_repeated_signal_is_recorded_once_with_its_one_event() {
        let store = Store::in_memory().await.unwrap();
        store.insert_stack(&stack("s1", "web", "p1")).await.unwrap();
        let event = |row: &SignalRow| {
            Some(NewEvent {
                resource_name: "h".into(),
                resource_type: "OS::Heat::WaitConditionHandle".into(),
                physical_id: None,
                action: "SIGNAL".into(),
                status: "COMPLETE".into(),
                reason: format!("Signal: status:{} reason:{}", row.status, row.reason),
            })
        };
        let record = |status: &'static str| {
            store.record_signal(
                "s1",
                "h",
                Some("i1"),
                status,
                Some("ok"),
                Some("\"d\""),
                event,
            )
        };
        let (first, recorded) = record("SUCCESS").await.unwrap();
        assert!(recorded);
        // A client retrying: the same answer, nothing more stored.
        let (again, recorded) = record("SUCCESS").await.unwrap();
        assert!(!recorded);
        assert_eq!(again.seq, first.seq);
        assert_eq!(store.signals("s1", "h").await.unwrap().len(), 1);
        assert_eq!(store.events("s1").await.unwrap().len(), 1);
        // The same id with other content is a new signal (it replaces the latest).
        let (_, recorded) = record("FAILURE").await.unwrap();
        assert!(recorded);
        assert_eq!(store.signals("s1", "h").await.unwrap().len(), 2);
        assert_eq!(store.latest_signals("s1", "h").await.unwrap().len(), 1);
        assert_eq!(store.events("s1").await.unwrap().len(), 2);
        // Without an id, every signal is new.
        for _ in 0..2 {
            let (_, recorded) = store
                .record_signal("s1", "h", None, "SUCCESS", None, None, event)
                .await
                .unwrap();
            assert!(recorded);
        }
        assert_eq!(store.events("s1").await.unwrap().len(), 4);
    }

    #[tokio::test]
    async fn finish_only_moves_a_stack_that_is_still_in_progress() {
        let store = Store::in_memory().await.unwrap();
        store.insert_stack(&stack("s1", "web", "p1")).await.unwrap();
        assert!(store
            .finish_stack("s1", "CREATE", "COMPLETE", "ok")
            .await
            .unwrap());
        assert!(!store
            .finish_stack("s1", "CREATE", "FAILED", "late")
            .await
            .unwrap());
        assert_eq!(
            store.stack("s1").await.unwrap().unwrap().stack_status(),
            "CREATE_COMPLETE"
        );
    }

    #[tokio::test]
    async fn signals_get_default_ids_and_reasons_in_order() {
        let store = Store::in_memory().await.unwrap();
        store.insert_stack(&stack("s1", "web", "p1")).await.unwrap();
        let a = store
            .add_signal("s1", "h", None, "SUCCESS", None, None)
            .await
            .unwrap();
        let b = store
            .add_signal("s1", "h", Some("x"), "FAILURE", Some("boom"), Some("1"))
            .await
            .unwrap();
        assert_eq!(
            (a.signal_id.as_str(), a.reason.as_str()),
            ("1", "Signal 1 received")
        );
        assert_eq!((b.signal_id.as_str(), b.reason.as_str()), ("x", "boom"));
        let all = store.signals("s1", "h").await.unwrap();
        assert_eq!(all.len(), 2);
        assert!(all[0].seq < all[1].seq);
    }

    #[tokio::test]
    async fn the_latest_signal_of_each_id_replaces_the_earlier_in_place() {
        let store = Store::in_memory().await.unwrap();
        store.insert_stack(&stack("s1", "web", "p1")).await.unwrap();
        store
            .upsert_resource(&ResourceRow {
                stack_id: "s1".into(),
                name: "h".into(),
                type_name: "OS::Heat::WaitConditionHandle".into(),
                action: "CREATE".into(),
                status: "COMPLETE".into(),
                status_reason: String::new(),
                physical_id: None,
                properties: "{}".into(),
                metadata: "{}".into(),
                attributes: "{}".into(),
                user_id: None,
                access_key: None,
                data_enc: None,
                created_at: now(),
                updated_at: None,
            })
            .await
            .unwrap();
        let add = |id: Option<&'static str>, status: &'static str| {
            let store = store.clone();
            async move {
                store
                    .add_signal("s1", "h", id, status, None, Some("\"d\""))
                    .await
                    .unwrap()
            }
        };
        add(Some("x"), "SUCCESS").await;
        add(Some("y"), "SUCCESS").await;
        let x2 = add(Some("x"), "FAILURE").await;
        // Heat numbers by distinct ids (len(metadata) + 1): x and y, so "3".
        let d = add(None, "SUCCESS").await;
        assert_eq!(
            (d.signal_id.as_str(), d.reason.as_str()),
            ("3", "Signal 3 received")
        );
        let latest = store.latest_signals("s1", "h").await.unwrap();
        let seen: Vec<(&str, &str)> = latest
            .iter()
            .map(|r| (r.signal_id.as_str(), r.status.as_str()))
            .collect();
        assert_eq!(seen, [("x", "FAILURE"), ("y", "SUCCESS"), ("3", "SUCCESS")]);
        assert_eq!(latest[0], x2);
        assert_eq!(store.signals("s1", "h").await.unwrap().len(), 4);
    }

    #[tokio::test]
    async fn concurrent_signals_to_one_file_database_are_all_kept() {
        let dir = std::env::temp_dir().join(format!("hg-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("engine.db")).await.unwrap();
        store.insert_stack(&stack("s1", "web", "p1")).await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .add_signal("s1", "h", None, "SUCCESS", None, None)
                    .await
                    .unwrap()
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap().signal_id);
        }
        ids.sort_by_key(|i| i.parse::<u32>().unwrap());
        let expected: Vec<String> = (1..=50).map(|n| n.to_string()).collect();
        assert_eq!(ids, expected);
        std::fs::remove_dir_all(&dir).ok();
    }
}
