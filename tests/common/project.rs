//! A lariat project in a temporary folder, with its version store, and the `lariat` binary
//! pointed at an [`Emulator`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use lariat::aws::Aws;
use lariat::config::AwsSettings;

use super::Emulator;

/// Where the versions of a test project are stored.
#[derive(Debug, Clone)]
pub enum Db {
    /// A SQLite file in the project folder.
    Sqlite,
    /// A PostgreSQL database (URL), with a table of the test's own.
    Postgres(String),
    /// A MySQL/MariaDB database (URL), with a table of the test's own.
    Mysql(String),
}

impl Db {
    /// Every backend this machine can test: SQLite always, the servers when their URLs are set.
    pub fn all() -> Vec<Db> {
        let mut dbs = vec![Db::Sqlite];
        dbs.extend(super::postgres_url().map(Db::Postgres));
        dbs.extend(super::mysql_url().map(Db::Mysql));
        dbs
    }
}

/// A project folder: `lariat.toml` and `lariat/migrate/`.
pub struct Project {
    /// The folder.
    pub dir: tempfile::TempDir,
    /// The version store URL.
    pub database_url: String,
    /// The version table.
    pub table: String,
    /// The instance name (`lariat.toml`), unique to the project: the names of everything it
    /// creates start with it, so tests sharing one LocalStack never see each other's resources.
    pub instance: String,
    db: Db,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Project {
    /// An empty project (no migrations yet).
    pub fn new(db: Db) -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("lariat/migrate")).expect("migrations dir");
        let instance = super::unique("t");
        std::fs::write(
            dir.path().join("lariat.toml"),
            format!(
                "instance = \"{instance}\"\npublisher = \"registration\"\n[aws]\nregion = \"us-east-1\"\n"
            ),
        )
        .expect("lariat.toml");
        let table = format!(
            "lariat_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let database_url = match &db {
            Db::Sqlite => format!("sqlite://{}", dir.path().join("versions.db").display()),
            Db::Postgres(url) | Db::Mysql(url) => url.clone(),
        };
        Project {
            dir,
            database_url,
            table,
            instance,
            db,
        }
    }

    /// `{instance}-{rest}`: the standard name of one of the project's resources, e.g.
    /// `project.name("event-fanout-registration-user_created.fifo")`.
    pub fn name(&self, rest: &str) -> String {
        format!("{}-{rest}", self.instance)
    }

    /// A project with the example migrations of the repository's `lariat/migrate`.
    pub fn example(db: Db) -> Project {
        let project = Project::new(db);
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("lariat/migrate");
        for entry in std::fs::read_dir(source).expect("example migrations") {
            let path = entry.expect("entry").path();
            let target = project
                .migrations()
                .join(path.file_name().expect("file name"));
            std::fs::copy(&path, target).expect("copy migration");
        }
        project
    }

    /// A project of `migrations` generated migrations, each with a topic, a dead-letter queue,
    /// a queue using it, and a filtered subscription (some FIFO).
    pub fn generated(db: Db, migrations: usize) -> Project {
        let project = Project::new(db);
        for i in 0..migrations {
            let fifo = i % 4 == 3;
            let text = format!(
                r#"
[[create_topic]]
type = "t{i}"
fifo = {fifo}

[[create_queue]]
type = "t{i}"
dest = "dead"
fifo = {fifo}

[[create_queue]]
type = "t{i}"
dest = "worker"
fifo = {fifo}
visibility_timeout = {vt}
dead_letter_queue = {{ type = "t{i}", dest = "dead", fifo = {fifo} }}
max_receive_count = 3

[[subscribe]]
topic = {{ type = "t{i}", fifo = {fifo} }}
queue = {{ type = "t{i}", dest = "worker", fifo = {fifo} }}
raw_message_delivery = true
filter_policy = {{ source = ["s{i}"] }}
"#,
                vt = 30 + i
            );
            project.write(
                &format!(
                    "{}_m{i}.toml",
                    20_240_101_000_000_i64 + i as i64 / 60 * 100 + i as i64 % 60
                ),
                &text,
            );
        }
        project
    }

    /// The migrations folder.
    pub fn migrations(&self) -> PathBuf {
        self.dir.path().join("lariat/migrate")
    }

    /// Writes a migration file.
    pub fn write(&self, file_name: &str, text: &str) -> PathBuf {
        let path = self.migrations().join(file_name);
        std::fs::write(&path, text).expect("write migration");
        path
    }

    /// The `lariat` binary, configured for this project and `emulator`.
    pub fn lariat(&self, emulator: &Emulator) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("lariat").expect("lariat binary");
        cmd.current_dir(self.dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("AWS_PROFILE")
            .env("LARIAT_DATABASE_URL", &self.database_url)
            .env("LARIAT_VERSIONS_TABLE", &self.table);
        for (key, value) in emulator.aws_env() {
            cmd.env(key, value);
        }
        cmd
    }

    /// The same as a `std::process::Command`, for runs that a test kills or races.
    pub fn lariat_process(&self, emulator: &Emulator) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("lariat"));
        cmd.current_dir(self.dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("AWS_PROFILE")
            .env("LARIAT_DATABASE_URL", &self.database_url)
            .env("LARIAT_VERSIONS_TABLE", &self.table);
        for (key, value) in emulator.aws_env() {
            cmd.env(key, value);
        }
        cmd
    }

    /// Starts `count` `lariat ARGS` at once and returns the standard output of each, after
    /// checking that every one succeeded.
    pub fn race(&self, emulator: &Emulator, count: usize, args: &[&str]) -> Vec<String> {
        let children: Vec<_> = (0..count)
            .map(|_| {
                self.lariat_process(emulator)
                    .args(args)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("spawn lariat")
            })
            .collect();
        children
            .into_iter()
            .map(|child| {
                let out = child.wait_with_output().expect("wait for lariat");
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success(), "{stderr}");
                String::from_utf8_lossy(&out.stdout).into_owned()
            })
            .collect()
    }

    /// The project's configuration, as the binary would load it.
    pub fn config(&self, emulator: &Emulator) -> lariat::config::Config {
        let overrides = lariat::config::Overrides {
            config: Some(self.dir.path().join("lariat.toml")),
            database_url: Some(self.database_url.clone()),
            versions_table: Some(self.table.clone()),
            endpoint_url: Some(emulator.endpoint.clone()),
            ..Default::default()
        };
        lariat::config::Config::load(overrides, |_| None).expect("config")
    }
}

impl Drop for Project {
    /// Drops the test's version table from a shared database server.
    fn drop(&mut self) {
        let table = &self.table;
        let sql = match self.db {
            Db::Sqlite => return,
            Db::Postgres(_) => format!("DROP TABLE IF EXISTS \"{table}\""),
            Db::Mysql(_) => format!("DROP TABLE IF EXISTS `{table}`"),
        };
        super::cleanup_sql(&self.database_url, vec![sql]);
    }
}

/// SNS and SQS clients on `emulator`.
pub async fn aws(emulator: &Emulator) -> Aws {
    let settings = AwsSettings {
        region: Some("us-east-1".into()),
        account_id: Some(emulator.account_id().into()),
        endpoint_url: Some(emulator.endpoint.clone()),
        profile: None,
        ..Default::default()
    };
    Aws::connect_with_credentials(&settings, "test", "test")
        .await
        .expect("connect to the emulator")
}

/// A topic's tags and attributes, read behind lariat's back.
pub async fn topic_tags_and_attributes(
    aws: &Aws,
    topic: &str,
) -> (
    std::collections::BTreeMap<String, String>,
    std::collections::HashMap<String, String>,
) {
    let arn = aws.arns().topic(topic);
    let tags = aws
        .sns
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("sns:ListTagsForResource")
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    let attributes = aws
        .sns
        .get_topic_attributes()
        .topic_arn(&arn)
        .send()
        .await
        .expect("sns:GetTopicAttributes")
        .attributes()
        .cloned()
        .unwrap_or_default();
    (tags, attributes)
}

/// What the account holds of one instance: topic names, queue names, and (topic, endpoint,
/// protocol) triples, each sorted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Topic names.
    pub topics: Vec<String>,
    /// Queue names.
    pub queues: Vec<String>,
    /// (topic name, endpoint name, protocol).
    pub subscriptions: Vec<(String, String, String)>,
}

fn last(arn_or_url: &str) -> String {
    arn_or_url
        .rsplit([':', '/'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Reads everything of `instance` in the account: the topics and queues whose names start with
/// `{instance}-`, and the subscriptions of such topics or to such queues.
pub async fn account(aws: &Aws, instance: &str) -> Account {
    let prefix = format!("{instance}-");
    let mut out = account_all(aws).await;
    out.topics.retain(|t| t.starts_with(&prefix));
    out.queues.retain(|q| q.starts_with(&prefix));
    out.subscriptions
        .retain(|(t, e, _)| t.starts_with(&prefix) || e.starts_with(&prefix));
    out
}

/// Reads everything in the account; on the run's shared LocalStack that includes what other
/// tests made, so look only for names of the test's own.
pub async fn account_all(aws: &Aws) -> Account {
    let mut out = Account::default();
    let mut token = None;
    loop {
        let page = aws
            .sns
            .list_topics()
            .set_next_token(token)
            .send()
            .await
            .expect("list topics");
        out.topics
            .extend(page.topics().iter().filter_map(|t| t.topic_arn()).map(last));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    // a shared LocalStack holds more than one page of queues
    let mut token = None;
    loop {
        let page = aws
            .sqs
            .list_queues()
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .expect("list queues");
        out.queues.extend(page.queue_urls().iter().map(|u| last(u)));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut token = None;
    loop {
        let page = aws
            .sns
            .list_subscriptions()
            .set_next_token(token)
            .send()
            .await
            .expect("list subscriptions");
        out.subscriptions
            .extend(page.subscriptions().iter().map(|s| {
                (
                    last(s.topic_arn().unwrap_or_default()),
                    last(s.endpoint().unwrap_or_default()),
                    s.protocol().unwrap_or_default().to_owned(),
                )
            }));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    out.topics.sort();
    out.queues.sort();
    out.subscriptions.sort();
    out
}

/// What the files declare at the newest version, in the same shape as [`account`]: the
/// subscriptions AWS holds for them (topic-to-topic links as their derived subscriptions).
pub fn declared(project: &Project, emulator: &Emulator) -> Account {
    declared_at(project, emulator, None)
}

/// What the files declare after `version` (every migration up to and including it; the newest
/// when `None`), in the same shape as [`account`].
pub fn declared_at(project: &Project, emulator: &Emulator, version: Option<i64>) -> Account {
    let migrator = lariat::Migrator::load(project.config(emulator)).expect("valid project");
    let topology = migrator.project.topology_at(version);
    let mut subscriptions: Vec<_> = topology
        .on_aws()
        .into_keys()
        .map(|k| {
            let protocol = lariat::calls::protocol(&k.endpoint).to_owned();
            (k.topic.clone(), k.endpoint.name().to_owned(), protocol)
        })
        .collect();
    subscriptions.sort();
    Account {
        topics: topology.topics.keys().cloned().collect(),
        queues: topology.queues.keys().cloned().collect(),
        subscriptions,
    }
}

/// The access policy of `queue`, read back from AWS; `None` when it has none.
pub async fn policy(aws: &Aws, queue: &str) -> Option<serde_json::Value> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let out = aws
        .sqs
        .get_queue_attributes()
        .queue_url(aws.queue_url(queue))
        .attribute_names(QueueAttributeName::Policy)
        .send()
        .await
        .expect("read the queue's policy");
    let text = out.attributes()?.get(&QueueAttributeName::Policy)?.clone();
    (!text.is_empty()).then(|| serde_json::from_str(&text).expect("a JSON policy"))
}
