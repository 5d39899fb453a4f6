//! The version store against real databases: the same scenarios on every backend.
//!
//! SQLite always runs (in a temporary directory). PostgreSQL runs when
//! `LARIAT_TEST_POSTGRES_URL` is set, MySQL/MariaDB when `LARIAT_TEST_MYSQL_URL` is set;
//! otherwise those tests print why they skipped and pass. Every test uses its own table, so
//! they can run in parallel.

use std::error::Error;
use std::process::Stdio;
use std::time::Duration;

use chrono::Utc;
use lariat::db::DbError;
use lariat::store::{connect, StoreError, VersionState, VersionStore};
use tokio::io::{AsyncBufReadExt, BufReader};

const POSTGRES_ENV: &str = "LARIAT_TEST_POSTGRES_URL";
const MYSQL_ENV: &str = "LARIAT_TEST_MYSQL_URL";

/// Environment of the child process that holds a lock until it is killed.
const HOLDER_URL_ENV: &str = "LARIAT_TEST_HOLD_LOCK_URL";
const HOLDER_TABLE_ENV: &str = "LARIAT_TEST_HOLD_LOCK_TABLE";
/// What the child prints once it holds the lock.
const HOLDER_READY: &str = "lariat-test-lock-held";

/// A short wait that must run out while another store holds the lock.
const SHORT: Duration = Duration::from_millis(300);
/// A wait that is plenty for a free lock.
const LONG: Duration = Duration::from_secs(10);

fn unique_table(test: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("lariat_test_{test}_{}", &id[..12])
}

fn server_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: set {var} to run this test against a real server");
            None
        }
    }
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    // A nested path: connect() must create the parent directories.
    format!("sqlite://{}/nested/dir/versions.db", dir.path().display())
}

async fn open(url: &str, table: &str) -> Box<dyn VersionStore> {
    match connect(url, table).await {
        Ok(store) => store,
        Err(err) => panic!("connect to {url}: {}", chain(&err)),
    }
}

/// The error and all its sources, as one line.
fn chain(err: &dyn Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Drops a test table on a server; SQLite tables vanish with their temporary directory.
async fn drop_table(url: &str, table: &str) {
    use sqlx::Executor;
    let result = if url.starts_with("postgres") {
        match sqlx::PgPool::connect(url).await {
            Ok(pool) => pool
                .execute(format!(r#"DROP TABLE IF EXISTS "{table}""#).as_str())
                .await
                .map(drop),
            Err(err) => Err(err),
        }
    } else if url.starts_with("mysql") || url.starts_with("mariadb") {
        let url = url.replacen("mariadb:", "mysql:", 1);
        match sqlx::MySqlPool::connect(&url).await {
            Ok(pool) => pool
                .execute(format!("DROP TABLE IF EXISTS `{table}`").as_str())
                .await
                .map(drop),
            Err(err) => Err(err),
        }
    } else {
        Ok(())
    };
    if let Err(err) = result {
        eprintln!("could not drop test table {table}: {err}");
    }
}

// ---------------------------------------------------------------------------------------------
// Scenarios, run on every backend.

/// ensure_table twice; mark, list, mark_applied, upsert, remove.
async fn round_trip(url: &str) {
    let table = unique_table("round_trip");
    let store = open(url, &table).await;
    assert!(!store.table_exists().await.expect("look for the table"));
    store.ensure_table().await.expect("create the table");
    assert!(store.table_exists().await.expect("look for the table"));
    store
        .ensure_table()
        .await
        .expect("second ensure_table is a no-op");
    assert!(store.list().await.expect("list").is_empty());

    let sum_a = "a".repeat(64);
    let sum_b = "b".repeat(64);
    let sum_c = "c".repeat(64);
    store
        .mark(2, "create_orders", &sum_b, VersionState::Applying)
        .await
        .expect("mark 2");
    store
        .mark(1, "create_users", &sum_a, VersionState::Applying)
        .await
        .expect("mark 1");

    let rows = store.list().await.expect("list");
    assert_eq!(
        rows.iter().map(|row| row.version).collect::<Vec<_>>(),
        [1, 2],
        "ordered by version"
    );
    assert_eq!(rows[0].name, "create_users");
    assert_eq!(rows[0].checksum, sum_a);
    assert_eq!(rows[0].state, VersionState::Applying);
    assert_eq!(rows[0].duration_ms, 0);
    let age = Utc::now() - rows[0].applied_at;
    assert!(age.num_seconds().abs() < 60, "applied_at is now: {age}");
    let marked_at = rows[1].applied_at;

    store.mark_applied(2, 1234).await.expect("mark_applied 2");
    let row = store.list().await.expect("list").remove(1);
    assert_eq!(row.version, 2);
    assert_eq!(row.state, VersionState::Applied);
    assert_eq!(row.duration_ms, 1234);
    assert!(row.applied_at >= marked_at, "applied_at moves forward");
    let applied_at = row.applied_at;

    // Upsert of an existing row: name, checksum and state change; time and duration stay.
    store
        .mark(2, "create_orders_v2", &sum_c, VersionState::RollingBack)
        .await
        .expect("upsert 2");
    let rows = store.list().await.expect("list");
    assert_eq!(rows.len(), 2, "upsert does not add a row");
    assert_eq!(rows[1].name, "create_orders_v2");
    assert_eq!(rows[1].checksum, sum_c);
    assert_eq!(rows[1].state, VersionState::RollingBack);
    assert_eq!(rows[1].duration_ms, 1234);
    assert_eq!(rows[1].applied_at, applied_at);

    // mark_applied on an existing row in the applied state still finds it.
    store.mark_applied(1, 5).await.expect("mark_applied 1");
    store
        .mark_applied(1, 5)
        .await
        .expect("mark_applied 1 again");
    assert!(matches!(
        store.mark_applied(99, 1).await,
        Err(StoreError::VersionNotFound { version: 99, .. })
    ));

    store.remove(2).await.expect("remove 2");
    store
        .remove(2)
        .await
        .expect("removing an absent row is a no-op");
    let rows = store.list().await.expect("list");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].version, 1);
    assert_eq!(rows[0].state, VersionState::Applied);

    store.close().await;
    drop_table(url, &table).await;
}

/// Runs `sql` on the database `url` names, returning the first column of every row (an integer).
async fn sql(url: &str, sql: &str) -> Vec<i64> {
    use sqlx::Row;
    let rows: Result<Vec<i64>, sqlx::Error> = if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        let rows = sqlx::query(sql).fetch_all(&pool).await;
        rows.map(|rows| rows.iter().map(|r| r.get::<i64, _>(0)).collect())
    } else if url.starts_with("mysql") || url.starts_with("mariadb") {
        let url = url.replacen("mariadb:", "mysql:", 1);
        let pool = sqlx::MySqlPool::connect(&url).await.expect("connect");
        let rows = sqlx::query(sql).fetch_all(&pool).await;
        rows.map(|rows| rows.iter().map(|r| r.get::<i64, _>(0)).collect())
    } else {
        let path = url.trim_start_matches("sqlite://");
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options)
            .await
            .expect("connect");
        let rows = sqlx::query(sql).fetch_all(&pool).await;
        rows.map(|rows| rows.iter().map(|r| r.get::<i64, _>(0)).collect())
    };
    rows.unwrap_or_else(|err| panic!("{sql}: {err}"))
}

/// The Ruby gem's versions table (one `version` column) under lariat's name: every entry
/// point stops with an error naming the table and `--versions-table`, and nothing is written.
async fn foreign_table_is_refused_untouched(url: &str) {
    let table = unique_table("gem_table");
    sql(
        url,
        &format!("CREATE TABLE {table} (version BIGINT NOT NULL UNIQUE)"),
    )
    .await;
    sql(
        url,
        &format!("INSERT INTO {table} (version) VALUES (1668097991)"),
    )
    .await;
    let store = open(url, &table).await;
    for (what, result) in [
        ("table_exists", store.table_exists().await.map(drop)),
        ("ensure_table", store.ensure_table().await),
    ] {
        let err = result.expect_err(what);
        assert!(
            matches!(&err, StoreError::ForeignTable { columns, .. } if columns == &["version"]),
            "{what}: {err:?}"
        );
        let text = chain(&err);
        assert!(text.contains(&format!("`{table}`")), "{text}");
        assert!(text.contains("--versions-table"), "{text}");
    }
    store.close().await;
    let rows = sql(url, &format!("SELECT version FROM {table}")).await;
    assert_eq!(rows, [1668097991], "the gem's rows are untouched");
    drop_table(url, &table).await;
}

/// Legacy records beside the version table: saved, replaced, read per version, removed.
async fn records_round_trip(url: &str) {
    let table = unique_table("records");
    let store = open(url, &table).await;
    store.ensure_table().await.expect("create the table");
    assert!(store.records(1).await.expect("no records yet").is_empty());
    store
        .save_record(1, "queue a", "{\"v\":1}")
        .await
        .expect("save");
    store
        .save_record(1, "queue a", "{\"v\":2}")
        .await
        .expect("replace");
    store.save_record(1, "topic b", "{}").await.expect("save");
    store.save_record(2, "queue a", "{}").await.expect("save");
    let records = store.records(1).await.expect("read");
    assert_eq!(records.len(), 2);
    assert_eq!(records["queue a"], "{\"v\":2}");
    store.remove_records(1).await.expect("remove");
    assert!(store.records(1).await.expect("read").is_empty());
    assert_eq!(store.records(2).await.expect("read").len(), 1);
    store.close().await;
    drop_table(url, &format!("{table}_records")).await;
    drop_table(url, &table).await;
}

/// Several processes' worth of stores creating the same table at once.
async fn concurrent_ensure_table(url: &str) {
    let table = unique_table("ensure_race");
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(open(url, &table).await);
    }
    let results = futures::future::join_all(stores.iter().map(|store| store.ensure_table())).await;
    for result in results {
        if let Err(err) = result {
            panic!("concurrent ensure_table: {}", chain(&err));
        }
    }
    for store in &stores {
        store.close().await;
    }
    drop_table(url, &table).await;
}

/// A second store waits, times out with LockTimeout, then gets the lock once it is free.
async fn lock_contention(url: &str) {
    let table = unique_table("lock");
    let first = open(url, &table).await;
    let second = open(url, &table).await;

    first.lock(LONG).await.expect("first lock");
    first
        .lock(LONG)
        .await
        .expect("locking again while holding is a no-op");

    let started = std::time::Instant::now();
    match second.lock(SHORT).await {
        Err(err @ StoreError::LockTimeout { waited }) => {
            assert!(waited >= SHORT, "waited {waited:?}");
            assert!(started.elapsed() >= SHORT);
            let message = err.to_string();
            assert!(message.contains("lariat migrate"), "{message}");
            assert!(message.contains("--lock-timeout"), "{message}");
        }
        other => panic!("expected LockTimeout, got {other:?}"),
    }

    first.unlock().await.expect("unlock");
    first.unlock().await.expect("unlocking twice is a no-op");
    second.lock(SHORT).await.expect("free after unlock");
    assert!(matches!(
        first.lock(SHORT).await,
        Err(StoreError::LockTimeout { .. })
    ));

    // close() releases the lock too.
    second.close().await;
    first.lock(LONG).await.expect("free after close");
    first.close().await;
}

/// A lock held by a process that is killed with SIGKILL is released by the OS or server.
async fn killed_holder_releases_lock(url: &str) {
    let table = unique_table("killed");
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = tokio::process::Command::new(exe)
        .args([
            "--exact",
            "helper_hold_lock_until_killed",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER_URL_ENV, url)
        .env(HOLDER_TABLE_ENV, &table)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the lock holder");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(HOLDER_READY) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true), "the child never reported holding the lock");

    let store = open(url, &table).await;
    assert!(
        matches!(store.lock(SHORT).await, Err(StoreError::LockTimeout { .. })),
        "the child holds the lock"
    );

    child.kill().await.expect("kill -9 the holder");
    store
        .lock(LONG)
        .await
        .expect("the lock of a killed process is released");
    store.close().await;
}

/// Not a test: the child process of [`killed_holder_releases_lock`]. Takes the lock, says so
/// on stdout, and sleeps until it is killed.
#[tokio::test]
#[ignore = "helper process for the killed-holder tests, started by them"]
async fn helper_hold_lock_until_killed() {
    let (Ok(url), Ok(table)) = (
        std::env::var(HOLDER_URL_ENV),
        std::env::var(HOLDER_TABLE_ENV),
    ) else {
        return;
    };
    let store = open(&url, &table).await;
    store.lock(LONG).await.expect("child takes the lock");
    println!("{HOLDER_READY}");
    tokio::time::sleep(Duration::from_secs(120)).await;
    panic!("the lock holder was not killed");
}

// ---------------------------------------------------------------------------------------------
// SQLite.

#[tokio::test]
async fn sqlite_round_trip() {
    let dir = tempfile::tempdir().expect("temp dir");
    round_trip(&sqlite_url(&dir)).await;
}

#[tokio::test]
async fn sqlite_foreign_table_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/versions.db", dir.path().display());
    foreign_table_is_refused_untouched(&url).await;
}

#[tokio::test]
async fn sqlite_records_round_trip() {
    let dir = tempfile::tempdir().expect("temp dir");
    records_round_trip(&sqlite_url(&dir)).await;
}

#[tokio::test]
async fn sqlite_in_memory_round_trip() {
    round_trip("sqlite::memory:").await;
}

#[tokio::test]
async fn sqlite_in_memory_needs_no_lock() {
    let first = open("sqlite::memory:", "versions").await;
    let second = open("sqlite::memory:", "versions").await;
    first.lock(SHORT).await.expect("first");
    second
        .lock(SHORT)
        .await
        .expect("separate databases, no contention");
}

#[tokio::test]
async fn sqlite_concurrent_ensure_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    concurrent_ensure_table(&sqlite_url(&dir)).await;
}

#[tokio::test]
async fn sqlite_lock_contention() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = sqlite_url(&dir);
    lock_contention(&url).await;
    assert!(
        dir.path().join("nested/dir/versions.db.lock").exists(),
        "the lock file sits next to the database"
    );
}

#[tokio::test]
async fn sqlite_killed_holder_releases_lock() {
    let dir = tempfile::tempdir().expect("temp dir");
    killed_holder_releases_lock(&sqlite_url(&dir)).await;
}

/// The lock is an ordinary `flock` on `<db>.lock`, so it also excludes other tools that use
/// one, and a killed holder of any kind releases it.
#[tokio::test]
async fn sqlite_lock_is_a_flock_released_when_python_holder_is_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = sqlite_url(&dir);
    let store = open(&url, "versions").await;
    let lock_file = dir.path().join("nested/dir/versions.db.lock");
    let script = "import fcntl, sys, time\n\
                  f = open(sys.argv[1], 'a')\n\
                  fcntl.flock(f, fcntl.LOCK_EX)\n\
                  print('locked', flush=True)\n\
                  time.sleep(120)\n";
    let spawned = tokio::process::Command::new("python3")
        .args(["-c", script])
        .arg(&lock_file)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = spawned else {
        eprintln!("skipped: python3 is not available");
        return;
    };
    let stdout = child.stdout.take().expect("child stdout");
    let line = tokio::time::timeout(LONG, BufReader::new(stdout).lines().next_line()).await;
    assert!(
        matches!(line, Ok(Ok(Some(ref text))) if text == "locked"),
        "python did not lock: {line:?}"
    );
    assert!(matches!(
        store.lock(SHORT).await,
        Err(StoreError::LockTimeout { .. })
    ));
    child.kill().await.expect("kill -9 python");
    store.lock(LONG).await.expect("released by the kill");
    store.close().await;
}

#[tokio::test]
async fn sqlite_url_without_a_file_is_rejected() {
    for url in ["sqlite:", "sqlite://"] {
        assert!(
            matches!(
                connect(url, "versions").await,
                Err(StoreError::InvalidUrl { .. })
            ),
            "{url}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL.

#[tokio::test]
async fn postgres_round_trip() {
    if let Some(url) = server_url(POSTGRES_ENV) {
        round_trip(&url).await;
    }
}

#[tokio::test]
async fn postgres_foreign_table_is_refused_untouched() {
    if let Some(url) = server_url(POSTGRES_ENV) {
        foreign_table_is_refused_untouched(&url).await;
    }
}

#[tokio::test]
async fn postgres_records_round_trip() {
    if let Some(url) = server_url(POSTGRES_ENV) {
        records_round_trip(&url).await;
    }
}

#[tokio::test]
async fn postgres_concurrent_ensure_table() {
    if let Some(url) = server_url(POSTGRES_ENV) {
        concurrent_ensure_table(&url).await;
    }
}

#[tokio::test]
async fn postgres_lock_contention() {
    if let Some(url) = server_url(POSTGRES_ENV) {
        lock_contention(&url).await;
    }
}

#[tokio::test]
async fn postgres_killed_holder_releases_lock() {
    if let Some(url) = server_url(POSTGRES_ENV) {
        killed_holder_releases_lock(&url).await;
    }
}

// ---------------------------------------------------------------------------------------------
// MySQL / MariaDB.

#[tokio::test]
async fn mysql_round_trip() {
    if let Some(url) = server_url(MYSQL_ENV) {
        round_trip(&url).await;
    }
}

#[tokio::test]
async fn mysql_round_trip_with_mariadb_scheme() {
    if let Some(url) = server_url(MYSQL_ENV) {
        let url = url.replacen("mysql:", "mariadb:", 1);
        round_trip(&url).await;
    }
}

#[tokio::test]
async fn mysql_foreign_table_is_refused_untouched() {
    if let Some(url) = server_url(MYSQL_ENV) {
        foreign_table_is_refused_untouched(&url).await;
    }
}

#[tokio::test]
async fn mysql_records_round_trip() {
    if let Some(url) = server_url(MYSQL_ENV) {
        records_round_trip(&url).await;
    }
}

#[tokio::test]
async fn mysql_concurrent_ensure_table() {
    if let Some(url) = server_url(MYSQL_ENV) {
        concurrent_ensure_table(&url).await;
    }
}

#[tokio::test]
async fn mysql_lock_contention() {
    if let Some(url) = server_url(MYSQL_ENV) {
        lock_contention(&url).await;
    }
}

#[tokio::test]
async fn mysql_killed_holder_releases_lock() {
    if let Some(url) = server_url(MYSQL_ENV) {
        killed_holder_releases_lock(&url).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Errors never show a password.

#[tokio::test]
async fn connection_errors_hide_the_password() {
    // Port 1 refuses connections: the error comes from the driver, with the URL in context.
    for url in [
        "postgres://lariat:s3cr3t-pw@127.0.0.1:1/db",
        "mariadb://lariat:s3cr3t-pw@127.0.0.1:1/db",
    ] {
        let err = match connect(url, "versions").await {
            Err(err) => err,
            Ok(_) => panic!("connected to port 1?"),
        };
        assert!(
            matches!(err, StoreError::Db(DbError::Connect { .. })),
            "{err:?}"
        );
        let text = format!("{} {err:?}", chain(&err));
        assert!(!text.contains("s3cr3t"), "password leaked: {text}");
        assert!(text.contains("lariat:***@127.0.0.1:1"), "{text}");
    }
}
