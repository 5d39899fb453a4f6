//! ARNs of topics, queues and subscription endpoints, from a name (or the ARN key of an
//! external resource) and the region and account a run works in.

use super::{arn, ResourceKind};
use crate::topology::Endpoint;

/// What the calls of an operation need to name resources: region and account for ARNs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arns {
    /// AWS region.
    pub region: String,
    /// AWS account id.
    pub account_id: String,
}

impl Arns {
    /// Topic ARN of a topic name, or of the ARN key of an external topic in another account
    /// or region (its empty region or account filled in).
    pub fn topic(&self, name: &str) -> String {
        self.arn(ResourceKind::Topic, name)
    }

    /// Queue ARN of a queue name, or of the ARN key of an external queue.
    pub fn queue(&self, name: &str) -> String {
        self.arn(ResourceKind::Queue, name)
    }

    fn arn(&self, resource: ResourceKind, name: &str) -> String {
        match foreign_parts(name) {
            Some((region, account, name)) => arn(
                resource,
                if region.is_empty() {
                    &self.region
                } else {
                    region
                },
                if account.is_empty() {
                    &self.account_id
                } else {
                    account
                },
                name,
            ),
            None => arn(resource, &self.region, &self.account_id, name),
        }
    }

    /// ARN of a subscription's endpoint.
    pub fn endpoint(&self, endpoint: &Endpoint) -> String {
        match endpoint {
            Endpoint::Queue(name) => self.queue(name),
            Endpoint::Topic(name) => self.topic(name),
        }
    }
}

/// `(region, account, name)` of an ARN key (`arn:aws:sns:REGION:ACCOUNT:NAME`, region or
/// account possibly empty); `None` for a plain name.
pub fn foreign_parts(key: &str) -> Option<(&str, &str, &str)> {
    let rest = key.strip_prefix("arn:aws:")?;
    let mut parts = rest.splitn(4, ':');
    let (_service, region, account, name) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    Some((region, account, name))
}
