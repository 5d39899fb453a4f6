//! Looking up topics and queues that another service owns, possibly in another account or
//! region: `migrate` checks them before it changes anything, `drift` reports them missing.

use aws_config::Region;

use super::execute::is_code;
use super::{Aws, AwsError};
use crate::calls::external::ExternalCheck;
use crate::naming::foreign_parts;
use crate::naming::ResourceKind;

impl Aws {
    /// Whether the external topic or queue exists. Reads only; never changes it.
    pub async fn external_exists(&self, check: &ExternalCheck) -> Result<bool, AwsError> {
        match check.resource {
            ResourceKind::Topic => {
                let result = self
                    .sns_for(&check.key)
                    .get_topic_attributes()
                    .topic_arn(self.arns.topic(&check.key))
                    .send()
                    .await
                    .map_err(|e| self.error("sns:GetTopicAttributes", &check.key, e));
                match result {
                    Ok(_) => Ok(true),
                    Err(e) if is_code(&e, &["NotFound"]) => Ok(false),
                    Err(e) => Err(e),
                }
            }
            ResourceKind::Queue => {
                let result = self
                    .sqs_for(&check.key)
                    .get_queue_url()
                    .queue_name(&check.name)
                    .set_queue_owner_aws_account_id(check.external.account.clone())
                    .send()
                    .await
                    .map_err(|e| self.error("sqs:GetQueueUrl", &check.key, e));
                match result {
                    Ok(_) => Ok(true),
                    Err(e) if is_code(&e, &["NonExistentQueue", "QueueDoesNotExist"]) => Ok(false),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// The SNS client for a topic: this one, or one for the region an external topic's key
    /// names (SNS takes a topic's requests in the topic's region).
    pub(super) fn sns_for(&self, topic: &str) -> aws_sdk_sns::Client {
        match other_region(&self.arns.region, topic) {
            Some(region) => aws_sdk_sns::Client::from_conf(
                self.sns
                    .config()
                    .to_builder()
                    .region(Region::new(region.to_owned()))
                    .build(),
            ),
            None => self.sns.clone(),
        }
    }

    /// The SQS client for a queue: this one, or one for an external queue's region.
    fn sqs_for(&self, queue: &str) -> aws_sdk_sqs::Client {
        match other_region(&self.arns.region, queue) {
            Some(region) => aws_sdk_sqs::Client::from_conf(
                self.sqs
                    .config()
                    .to_builder()
                    .region(Region::new(region.to_owned()))
                    .build(),
            ),
            None => self.sqs.clone(),
        }
    }
}

/// The region of an ARN key when it names one other than `ours`.
fn other_region<'k>(ours: &str, key: &'k str) -> Option<&'k str> {
    foreign_parts(key)
        .map(|(region, _, _)| region)
        .filter(|region| !region.is_empty() && *region != ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_another_region_needs_another_client() {
        assert_eq!(other_region("us-east-1", "plain-name"), None);
        assert_eq!(
            other_region("us-east-1", "arn:aws:sns::111122223333:t"),
            None
        );
        assert_eq!(
            other_region("us-east-1", "arn:aws:sns:us-east-1:111122223333:t"),
            None
        );
        assert_eq!(
            other_region("us-east-1", "arn:aws:sns:eu-west-1::t"),
            Some("eu-west-1")
        );
    }
}
