//! Counting the requests lariat sends, by action: an SDK interceptor on every client of one
//! [`Aws`](super::Aws) value, read back by `migrate` and `rollback` for their summary.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sqs::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// Requests sent, by action (`sqs:CreateQueue`); a retried request counts once per attempt.
pub type RequestCounts = BTreeMap<String, u64>;

/// The interceptor: shared by the SNS, SQS and STS clients of one connection.
#[derive(Debug, Clone, Default)]
pub(super) struct RequestCounter {
    /// service (as the SDK names it: `SQS`) -> operation -> attempts
    counts: Arc<Mutex<BTreeMap<String, BTreeMap<String, u64>>>>,
}

impl RequestCounter {
    /// What was sent so far.
    pub(super) fn snapshot(&self) -> RequestCounts {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts
            .iter()
            .flat_map(|(service, operations)| {
                operations.iter().map(move |(operation, n)| {
                    (format!("{}:{operation}", service.to_lowercase()), *n)
                })
            })
            .collect()
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "lariat request counter"
    }

    // once per attempt, just before it goes on the wire
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let operations = match counts.get_mut(metadata.service()) {
            Some(operations) => operations,
            None => counts.entry(metadata.service().to_owned()).or_default(),
        };
        match operations.get_mut(metadata.name()) {
            Some(n) => *n += 1,
            None => {
                operations.insert(metadata.name().to_owned(), 1);
            }
        }
        Ok(())
    }
}

/// The total of `counts`.
pub fn total(counts: &RequestCounts) -> u64 {
    counts.values().sum()
}

/// What was sent between two snapshots.
pub fn since(before: &RequestCounts, after: &RequestCounts) -> RequestCounts {
    after
        .iter()
        .map(|(action, n)| {
            let was = before.get(action).copied().unwrap_or(0);
            (action.clone(), n.saturating_sub(was))
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}
