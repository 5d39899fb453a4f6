//! The executor: runs a [`Plan`] against AWS and records each version in the store.
//!
//! Operations of all steps form one dependency graph: two operations that touch the same
//! resource (one of them changing it) run in plan order, everything else runs concurrently up
//! to a bound. Versions are still recorded strictly in plan order: a version is marked
//! `applying` (or `rolling_back`) before its first operation starts and `applied` (or removed)
//! once it and every version before it are done. A run stopped at any point — crash, network
//! error, Ctrl-C — leaves rows that say so, and the same command finishes the job: every
//! operation sets what it declares, whatever it finds.
//!
//! A run that picks up after a stopped one may find that the stopped run already went further
//! on a resource than the version it repeats: a subscription whose attributes an older version
//! sets may already be gone, removed by a newer version's operation that ran before the run
//! stopped. Such an operation finds its resource missing; when a later operation of the same
//! run removes that resource anyway, it is skipped (see [`superseded_by`]), since the end state
//! is the same. Any other missing resource stops the run.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction as Edges;

use crate::aws::{Aws, AwsError, RequestCounts, SubscriptionListings};
use crate::calls::{self, Call};
use crate::naming::Arns;
use crate::plan::{Direction, Plan};
use crate::store::{StoreError, VersionState, VersionStore};
use crate::topology::{Operation, ResourceKey};

/// How many operations run at once by default.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Options of one run.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// Operations in flight at once (at least 1).
    pub concurrency: usize,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// Progress of a run, for a terminal or a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A version's first operation starts.
    Started {
        /// Applying or undoing.
        direction: Direction,
        /// Version.
        version: i64,
        /// Name.
        name: String,
    },
    /// A version is done and recorded.
    Finished {
        /// Applied or undone.
        direction: Direction,
        /// Version.
        version: i64,
        /// Name.
        name: String,
        /// Operations it ran.
        operations: usize,
        /// From its first operation to its record.
        elapsed: Duration,
    },
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Versions applied (up) or undone (down), in order.
    pub versions: Vec<i64>,
    /// The AWS requests the run sent, by action (`sqs:CreateQueue`), retries included: filled
    /// in by [`Migrator`](crate::Migrator), which also counts what it asks before the run.
    pub requests: RequestCounts,
    /// Versions that `migrate` undid first, newest first, to finish a rollback that stopped
    /// midway (see [`crate::plan::plan_finish_rollback`]).
    pub undone: Vec<i64>,
}

/// A run that stopped before the end. AWS changes are not transactional: `done` lists the
/// versions that were completed and recorded before it stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// An AWS call failed (after retries).
    #[error(
        "migration {version} ({name}) failed at `{operation}`: {source}\n  {}",
        operation_hint(done, source)
    )]
    Operation {
        /// Version.
        version: i64,
        /// Name.
        name: String,
        /// The operation, e.g. `create queue NAME`.
        operation: String,
        /// Versions completed before the failure.
        done: Vec<i64>,
        /// The AWS error.
        #[source]
        source: AwsError,
    },
    /// The version table could not be written.
    #[error(
        "the version table could not be updated: {source}\n  {}",
        rerun_hint(done)
    )]
    Store {
        /// Versions completed before the failure.
        done: Vec<i64>,
        /// The store error.
        #[source]
        source: StoreError,
    },
    /// The shutdown future completed (Ctrl-C or SIGTERM in the CLI): operations in flight were
    /// finished, nothing new was started.
    #[error("interrupted\n  {}", rerun_hint(done))]
    Interrupted {
        /// Versions completed before the interruption.
        done: Vec<i64>,
    },
}

impl ApplyError {
    /// Versions completed before the run stopped.
    pub fn done(&self) -> &[i64] {
        match self {
            ApplyError::Operation { done, .. }
            | ApplyError::Store { done, .. }
            | ApplyError::Interrupted { done } => done,
        }
    }
}

/// What to do after an AWS failure: run again when the failure may pass by itself; otherwise
/// fix its cause first, since a run that repeats the same request meets the same answer.
fn operation_hint(done: &[i64], source: &AwsError) -> String {
    if source.is_transient() {
        return rerun_hint(done);
    }
    format!(
        "{}; running the same command again meets the same error: fix its cause first (`lariat \
         drift` compares the account with the files), then run it again to go on from there",
        completed(done)
    )
}

fn completed(done: &[i64]) -> String {
    if done.is_empty() {
        "no migration was completed".to_owned()
    } else {
        format!(
            "completed before stopping: {}",
            done.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn rerun_hint(done: &[i64]) -> String {
    format!(
        "{}; every operation is safe to repeat, so run the same command again to finish",
        completed(done)
    )
}

/// The resource an operation sets up or changes, which a later removal makes moot: the topic,
/// queue or subscription itself. `None` for removals, references to external topics and
/// queues, and legacy operations.
fn target(op: &Operation) -> Option<ResourceKey> {
    if crate::calls::external::is_external(op) {
        return None;
    }
    match op {
        Operation::CreateTopic(t) | Operation::ChangeTopic { after: t, .. } => {
            Some(ResourceKey::Topic(t.name.clone()))
        }
        Operation::CreateQueue(q) | Operation::ChangeQueue { after: q, .. } => {
            Some(ResourceKey::Queue(q.name.clone()))
        }
        Operation::Subscribe(s) | Operation::ChangeSubscription { after: s, .. } => {
            Some(ResourceKey::Subscription(s.key.clone()))
        }
        Operation::SubscribeDerived(d) | Operation::ChangeDerived { after: d, .. } => {
            Some(ResourceKey::Subscription(d.subscription.key.clone()))
        }
        _ => None,
    }
}

/// The resource an operation removes, with everything set on it (an unsubscribe also takes
/// back the queue policy statement its subscribe added).
fn removes(op: &Operation) -> Option<ResourceKey> {
    if crate::calls::external::is_external(op) {
        return None;
    }
    match op {
        Operation::DeleteTopic(t) => Some(ResourceKey::Topic(t.name.clone())),
        Operation::DeleteQueue(q) => Some(ResourceKey::Queue(q.name.clone())),
        Operation::Unsubscribe(s) => Some(ResourceKey::Subscription(s.key.clone())),
        Operation::UnsubscribeDerived(d) => {
            Some(ResourceKey::Subscription(d.subscription.key.clone()))
        }
        _ => None,
    }
}

/// The later operation of `plan` (step and operation index) that removes what operation `op`
/// of step `step` sets up, if there is one: then that operation's effect does not outlast the
/// run, and it may be skipped when its resource is already gone.
pub fn superseded_by(plan: &Plan, step: usize, op: usize) -> Option<(usize, usize)> {
    let target = target(plan.steps.get(step)?.ops.get(op)?)?;
    plan.steps
        .iter()
        .enumerate()
        .skip(step)
        .flat_map(|(s, st)| st.ops.iter().enumerate().map(move |(o, op)| (s, o, op)))
        .filter(|&(s, o, _)| (s, o) > (step, op))
        .find(|(_, _, later)| removes(later).as_ref() == Some(&target))
        .map(|(s, o, _)| (s, o))
}

/// One operation in the graph.
struct Node {
    step: usize,
    op: usize,
}

/// Builds the dependency graph: an operation waits for the last earlier operation that
/// changed a resource it touches, and an operation that changes a resource also waits for
/// every earlier one that read it.
fn dependency_graph(plan: &Plan) -> DiGraph<Node, ()> {
    let mut graph = DiGraph::new();
    let mut last_writer: HashMap<ResourceKey, NodeIndex> = HashMap::new();
    let mut readers: HashMap<ResourceKey, Vec<NodeIndex>> = HashMap::new();
    for (s, step) in plan.steps.iter().enumerate() {
        for (o, op) in step.ops.iter().enumerate() {
            let node = graph.add_node(Node { step: s, op: o });
            let (reads, writes) = op.resources();
            for key in &reads {
                if let Some(&w) = last_writer.get(key) {
                    graph.update_edge(w, node, ());
                }
            }
            for key in &writes {
                if let Some(&w) = last_writer.get(key) {
                    graph.update_edge(w, node, ());
                }
                for &r in readers.get(key).into_iter().flatten() {
                    if r != node {
                        graph.update_edge(r, node, ());
                    }
                }
            }
            for key in reads {
                readers.entry(key).or_default().push(node);
            }
            for key in writes {
                readers.remove(&key);
                last_writer.insert(key, node);
            }
        }
    }
    graph
}

async fn run_calls(
    aws: &Aws,
    listings: &SubscriptionListings,
    node: NodeIndex,
    calls: &[Call],
) -> (NodeIndex, Result<(), AwsError>) {
    for call in calls {
        if let Err(e) = aws.execute_in(call, listings).await {
            return (node, Err(e));
        }
    }
    (node, Ok(()))
}

/// Per-step bookkeeping.
struct StepState {
    remaining: usize,
    started: Option<Instant>,
}

/// Runs `plan`, recording versions in `store` in plan order; reports progress to `on_progress`.
///
/// Stops at the first failed operation or when `shutdown` completes (the CLI passes
/// [`crate::signal::shutdown`], Ctrl-C or SIGTERM), letting operations already in flight
/// finish, and returns what was completed in the error. `shutdown` is first polled once the
/// first operations are in flight.
pub async fn run(
    plan: &Plan,
    aws: &Aws,
    store: &dyn VersionStore,
    options: ApplyOptions,
    on_progress: &(dyn Fn(Progress) + Sync),
    shutdown: impl Future<Output = ()>,
) -> Result<Report, ApplyError> {
    let calls = calls::plan_calls(plan, aws.arns());
    let listings = SubscriptionListings::default();
    let graph = dependency_graph(plan);
    let mut waiting: Vec<usize> = graph
        .node_indices()
        .map(|n| graph.neighbors_directed(n, Edges::Incoming).count())
        .collect();
    let mut ready: BinaryHeap<Reverse<usize>> = waiting
        .iter()
        .enumerate()
        .filter(|(_, &w)| w == 0)
        .map(|(i, _)| Reverse(i))
        .collect();
    let mut steps: Vec<StepState> = plan
        .steps
        .iter()
        .map(|s| StepState {
            remaining: s.ops.len(),
            started: None,
        })
        .collect();
    let mut report = Report::default();
    let mut in_flight = FuturesUnordered::new();
    let mut failure: Option<ApplyError> = None;
    let concurrency = options.concurrency.max(1);
    tokio::pin!(shutdown);

    loop {
        while failure.is_none() && in_flight.len() < concurrency {
            let Some(Reverse(i)) = ready.pop() else { break };
            let node = NodeIndex::new(i);
            let Node { step, op } = graph[node];
            if let Err(source) = start_step(plan, store, &mut steps, step, on_progress).await {
                failure = Some(ApplyError::Store {
                    done: report.versions.clone(),
                    source,
                });
                break;
            }
            in_flight.push(run_calls(aws, &listings, node, &calls[step][op]));
        }
        if failure.is_none() {
            if let Err(source) =
                record_finished(plan, store, &mut steps, &mut report, on_progress).await
            {
                failure = Some(ApplyError::Store {
                    done: report.versions.clone(),
                    source,
                });
            }
        }
        if in_flight.is_empty() {
            break;
        }
        let finished = tokio::select! {
            finished = in_flight.next() => finished,
            _ = &mut shutdown, if failure.is_none() => {
                tracing::warn!("interrupted: finishing the operations in flight, starting no new ones");
                failure = Some(ApplyError::Interrupted { done: Vec::new() });
                continue;
            }
        };
        let Some((node, result)) = finished else {
            break;
        };
        let Node { step, op } = graph[node];
        let result = match result {
            Err(e) if e.is_not_found() => match superseded_by(plan, step, op) {
                Some((s, o)) => {
                    let (later, by) = (&plan.steps[s], &plan.steps[s].ops[o]);
                    tracing::info!(
                        "skipped `{}` of migration {}: {e}; `{}` of migration {} ({}) removes it later in this run",
                        plan.steps[step].ops[op].describe(),
                        plan.steps[step].version,
                        by.describe(),
                        later.version,
                        later.name
                    );
                    Ok(())
                }
                None => Err(e),
            },
            other => other,
        };
        match result {
            Ok(()) => {
                steps[step].remaining -= 1;
                for next in graph.neighbors_directed(node, Edges::Outgoing) {
                    waiting[next.index()] -= 1;
                    if waiting[next.index()] == 0 {
                        ready.push(Reverse(next.index()));
                    }
                }
            }
            Err(source)
                if failure.is_none() || matches!(failure, Some(ApplyError::Interrupted { .. })) =>
            {
                let s = &plan.steps[step];
                failure = Some(ApplyError::Operation {
                    version: s.version,
                    name: s.name.clone(),
                    operation: s.ops[op].describe(),
                    done: Vec::new(),
                    source,
                });
            }
            Err(source) => tracing::warn!(error = %source, "another operation failed too"),
        }
    }
    // whatever completed while draining is recorded too, so a re-run has less to do
    let recorded = record_finished(plan, store, &mut steps, &mut report, on_progress).await;
    match (failure, recorded) {
        (None, Ok(())) => Ok(report),
        (None, Err(source)) => Err(ApplyError::Store {
            done: report.versions,
            source,
        }),
        (Some(mut failure), _) => {
            match &mut failure {
                ApplyError::Operation { done, .. }
                | ApplyError::Interrupted { done }
                | ApplyError::Store { done, .. } => {
                    *done = report.versions;
                }
            }
            Err(failure)
        }
    }
}

/// Marks a step as started in the store before its first operation.
async fn start_step(
    plan: &Plan,
    store: &dyn VersionStore,
    steps: &mut [StepState],
    step: usize,
    on_progress: &(dyn Fn(Progress) + Sync),
) -> Result<(), StoreError> {
    if steps[step].started.is_some() {
        return Ok(());
    }
    let s = &plan.steps[step];
    let state = match plan.direction {
        Direction::Up => VersionState::Applying,
        Direction::Down => VersionState::RollingBack,
    };
    store.mark(s.version, &s.name, &s.checksum, state).await?;
    steps[step].started = Some(Instant::now());
    on_progress(Progress::Started {
        direction: plan.direction,
        version: s.version,
        name: s.name.clone(),
    });
    Ok(())
}

/// Records every finished step whose predecessors are all recorded.
async fn record_finished(
    plan: &Plan,
    store: &dyn VersionStore,
    steps: &mut [StepState],
    report: &mut Report,
    on_progress: &(dyn Fn(Progress) + Sync),
) -> Result<(), StoreError> {
    while report.versions.len() < plan.steps.len() {
        let i = report.versions.len();
        if steps[i].remaining > 0 {
            return Ok(());
        }
        // a step without operations still gets its row
        start_step(plan, store, steps, i, on_progress).await?;
        let s = &plan.steps[i];
        let elapsed = steps[i].started.map(|t| t.elapsed()).unwrap_or_default();
        match plan.direction {
            Direction::Up => {
                let ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
                store.mark_applied(s.version, ms).await?
            }
            Direction::Down => store.remove(s.version).await?,
        }
        report.versions.push(s.version);
        on_progress(Progress::Finished {
            direction: plan.direction,
            version: s.version,
            name: s.name.clone(),
            operations: s.ops.len(),
            elapsed,
        });
    }
    Ok(())
}

/// The calls a plan would make, step by step, for `--dry-run`.
pub fn dry_run(plan: &Plan, arns: &Arns) -> Vec<(i64, String, Vec<Call>)> {
    calls::plan_calls(plan, arns)
        .into_iter()
        .zip(&plan.steps)
        .map(|(calls, step)| {
            (
                step.version,
                step.name.clone(),
                calls.into_iter().flatten().collect(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::{self, ResourceKind};
    use crate::plan::Step;
    use crate::topology::{Endpoint, Queue, Subscription, SubscriptionKey, Topic};

    fn topic(name: &str) -> Topic {
        Topic {
            name: name.into(),
            naming: naming::parse(ResourceKind::Topic, name),
            attributes: Default::default(),
            tags: Default::default(),
            external: None,
        }
    }

    fn queue(name: &str) -> Queue {
        Queue {
            name: name.into(),
            naming: naming::parse(ResourceKind::Queue, name),
            attributes: Default::default(),
            tags: Default::default(),
            external: None,
        }
    }

    fn sub(t: &str, q: &str) -> Subscription {
        Subscription {
            key: SubscriptionKey {
                topic: t.into(),
                endpoint: Endpoint::Queue(q.into()),
            },
            attributes: Default::default(),
        }
    }

    fn step(version: i64, ops: Vec<Operation>) -> Step {
        Step {
            version,
            name: format!("v{version}"),
            checksum: String::new(),
            ops,
        }
    }

    fn edges(plan: &Plan) -> Vec<(usize, usize)> {
        let g = dependency_graph(plan);
        let mut e: Vec<_> = g
            .edge_indices()
            .filter_map(|e| g.edge_endpoints(e))
            .map(|(a, b)| (a.index(), b.index()))
            .collect();
        e.sort();
        e
    }

    #[test]
    fn independent_resources_run_concurrently() {
        let plan = Plan {
            direction: Direction::Up,
            steps: vec![
                step(
                    1,
                    vec![
                        Operation::CreateTopic(topic("a")),
                        Operation::CreateQueue(queue("q")),
                    ],
                ),
                step(2, vec![Operation::CreateTopic(topic("b"))]),
            ],
        };
        assert!(edges(&plan).is_empty());
    }

    #[test]
    fn subscriptions_wait_for_their_topic_and_queue() {
        let plan = Plan {
            direction: Direction::Up,
            steps: vec![
                step(
                    1,
                    vec![
                        Operation::CreateTopic(topic("t")),
                        Operation::CreateQueue(queue("q1")),
                        Operation::CreateQueue(queue("q2")),
                    ],
                ),
                step(
                    2,
                    vec![
                        Operation::Subscribe(sub("t", "q1")),
                        Operation::Subscribe(sub("t", "q2")),
                    ],
                ),
                step(
                    3,
                    vec![
                        Operation::Unsubscribe(sub("t", "q1")),
                        Operation::Unsubscribe(sub("t", "q2")),
                        Operation::DeleteTopic(topic("t")),
                    ],
                ),
            ],
        };
        // nodes: 0 t, 1 q1, 2 q2, 3 sub1, 4 sub2, 5 unsub1, 6 unsub2, 7 delete t
        let e = edges(&plan);
        for needed in [
            (0, 3),
            (1, 3),
            (0, 4),
            (2, 4),
            (3, 5),
            (4, 6),
            (5, 7),
            (6, 7),
        ] {
            assert!(e.contains(&needed), "{needed:?} missing from {e:?}");
        }
        assert!(
            !e.contains(&(3, 4)) && !e.contains(&(4, 3)) && !e.contains(&(1, 2)),
            "subscriptions only read the topic, so they do not wait for each other: {e:?}"
        );
    }

    /// The issue 11 project undone by `rollback --all`: subscribe; change the subscription;
    /// unsubscribe, each reversed, newest first.
    fn undo_all() -> Plan {
        let s = sub("t", "q");
        let mut raw = s.clone();
        raw.attributes.raw_message_delivery = Some(true);
        Plan {
            direction: Direction::Down,
            steps: vec![
                step(4, vec![Operation::Subscribe(raw.clone())]),
                step(
                    3,
                    vec![Operation::ChangeSubscription {
                        before: raw,
                        after: s.clone(),
                    }],
                ),
                step(2, vec![Operation::Unsubscribe(s)]),
                step(
                    1,
                    vec![
                        Operation::DeleteQueue(queue("q")),
                        Operation::DeleteTopic(topic("t")),
                    ],
                ),
            ],
        }
    }

    #[test]
    fn what_a_later_operation_removes_is_superseded() {
        let plan = undo_all();
        assert_eq!(
            superseded_by(&plan, 0, 0),
            Some((2, 0)),
            "subscribe, then unsubscribe"
        );
        assert_eq!(
            superseded_by(&plan, 1, 0),
            Some((2, 0)),
            "change, then unsubscribe"
        );
        assert_eq!(
            superseded_by(&plan, 2, 0),
            None,
            "a removal is never skipped"
        );
        assert_eq!(
            superseded_by(&plan, 3, 1),
            None,
            "nothing after the last step"
        );

        // going up: the topic and queue stay, so a missing one is an error; the subscription
        // and its change are removed by the last step
        let mut up = undo_all();
        up.steps.reverse();
        for step in &mut up.steps {
            step.ops = step.ops.iter().map(Operation::inverse).collect();
        }
        assert_eq!(superseded_by(&up, 0, 0), None, "create queue");
        assert_eq!(superseded_by(&up, 0, 1), None, "create topic");
        assert_eq!(superseded_by(&up, 1, 0), Some((3, 0)), "subscribe");
        assert_eq!(superseded_by(&up, 2, 0), Some((3, 0)), "change");
        assert_eq!(superseded_by(&up, 3, 0), None, "unsubscribe");

        // a queue changed, then deleted in the same step
        let q = queue("q");
        let mut longer = q.clone();
        longer.attributes.visibility_timeout = Some(60);
        let plan = Plan {
            direction: Direction::Down,
            steps: vec![step(
                1,
                vec![
                    Operation::ChangeQueue {
                        before: longer,
                        after: q.clone(),
                    },
                    Operation::DeleteQueue(q),
                ],
            )],
        };
        assert_eq!(superseded_by(&plan, 0, 0), Some((0, 1)));
    }

    fn aws_error(code: Option<&str>) -> AwsError {
        AwsError::failed(
            "sns:SetSubscriptionAttributes",
            "t -> q",
            code,
            "the subscription does not exist",
        )
    }

    /// Regression (issue 11): a missing subscription printed "run the same command again to
    /// finish", which met the same error on every run.
    #[test]
    fn the_rerun_hint_is_given_only_where_a_rerun_can_finish() {
        let failed = |code| ApplyError::Operation {
            version: 3,
            name: "raw".into(),
            operation: "change subscription".into(),
            done: vec![4],
            source: aws_error(code),
        };
        let text = failed(Some("NotFound")).to_string();
        assert!(!text.contains("again to finish"), "{text}");
        assert!(text.contains("fix its cause first"), "{text}");
        assert!(text.contains("completed before stopping: 4"), "{text}");
        for transient in [Some("Throttling"), Some("ServiceUnavailable"), None] {
            let text = failed(transient).to_string();
            assert!(
                text.contains("run the same command again to finish"),
                "{text}"
            );
        }
        let text = ApplyError::Interrupted { done: vec![] }.to_string();
        assert!(
            text.contains("run the same command again to finish"),
            "{text}"
        );
    }
}
