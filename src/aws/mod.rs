//! The only part of lariat that talks to SNS and SQS.
//!
//! Clients are built once from the standard AWS configuration chain (environment, profiles,
//! SSO, IMDS), with an optional endpoint override for local emulators, and passed around as
//! one [`Aws`] value. Throttling and 5xx answers are retried by the SDK's standard retry mode
//! with exponential backoff.

mod execute;
mod external;
pub mod inspect;
mod legacy;
pub mod publish;
mod receive;
pub mod requests;

use std::error::Error as StdError;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::config::AwsSettings;
use crate::plan::Arns;

pub use execute::{AttributeDifference, SubscriptionListings};
pub use receive::{QueueInfo, SqsMessage, MAX_BATCH, MAX_WAIT_TIME};
pub use requests::RequestCounts;

use requests::RequestCounter;

/// How many times a throttled or failed (5xx) request is tried in all.
pub const MAX_ATTEMPTS: u32 = 8;

/// An error from AWS, with what lariat was doing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AwsError {
    /// No region in any configuration source.
    #[error("no AWS region is configured: set AWS_REGION, `region` under [aws] in lariat.toml, or pass --region")]
    NoRegion,
    /// The account id could not be found.
    #[error("cannot find the AWS account id (sts:GetCallerIdentity failed: {message})\n  check your AWS credentials, or set `account_id` under [aws] in lariat.toml / --account-id")]
    Account {
        /// What STS said.
        message: String,
    },
    /// A request failed (after retries).
    #[error("{action} {resource}: {message}")]
    Request {
        /// The API action, e.g. `sqs:CreateQueue`.
        action: &'static str,
        /// The topic, queue or subscription.
        resource: String,
        /// The AWS error code, when there is one.
        code: Option<String>,
        /// What AWS said, with the error chain.
        message: String,
    },
    /// A queue exists with attributes other than the declared ones.
    #[error("queue {queue} already exists with other attributes:{}\n  it was created or changed outside these migrations; change it back, or declare its current attributes with [[change_queue]] in a new migration", differences.iter().map(|d| format!("\n    {d}")).collect::<String>())]
    QueueDiffers {
        /// The queue.
        queue: String,
        /// Each attribute that differs.
        differences: Vec<AttributeDifference>,
    },
    /// A topic exists with an attribute that only `CreateTopic` sets (e.g. `FifoTopic`),
    /// other than the declared one.
    #[error("topic {topic} already exists with attributes that cannot be changed:{}\n  it was created outside these migrations; delete it (or give the declared topic another name), then run again", differences.iter().map(|d| format!("\n    {d}")).collect::<String>())]
    TopicDiffers {
        /// The topic.
        topic: String,
        /// Each attribute that differs.
        differences: Vec<AttributeDifference>,
    },
    /// A queue's policy is not JSON lariat can merge into.
    #[error("the access policy of queue {queue} is not a JSON object ({message}); fix or remove it, then run again")]
    BadPolicy {
        /// The queue.
        queue: String,
        /// The parse error.
        message: String,
    },
}

impl AwsError {
    /// Wraps an SDK error with the action and resource.
    pub(crate) fn request<E>(action: &'static str, resource: impl Into<String>, err: E) -> AwsError
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        AwsError::Request {
            action,
            resource: resource.into(),
            code: err.code().map(str::to_owned),
            message: DisplayErrorContext(&err).to_string(),
        }
    }

    /// The AWS error code, when the error came from AWS.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Request { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// AWS said the topic, queue or subscription the request names does not exist.
    pub fn is_not_found(&self) -> bool {
        execute::is_code(self, &["NotFound", "NonExistentQueue", "QueueDoesNotExist"])
    }

    /// A failure that may pass by itself: no answer (connection, timeout), throttling or a
    /// server error that outlasted the retries. Running the same command again may finish.
    pub fn is_transient(&self) -> bool {
        match self {
            AwsError::Request { code: None, .. } => true,
            AwsError::Request { .. } => execute::is_code(
                self,
                &[
                    "Throttling",
                    "ThrottlingException",
                    "ThrottledException",
                    "RequestThrottled",
                    "TooManyRequestsException",
                    "RequestLimitExceeded",
                    "InternalError",
                    "InternalFailure",
                    "ServiceUnavailable",
                    "RequestTimeout",
                ],
            ),
            _ => false,
        }
    }
}

/// Connected SNS and SQS clients, with the region and account that ARNs and URLs are built from.
#[derive(Debug, Clone)]
pub struct Aws {
    /// SNS client.
    pub sns: aws_sdk_sns::Client,
    /// SQS client.
    pub sqs: aws_sdk_sqs::Client,
    arns: Arns,
    endpoint_url: Option<String>,
    requests: RequestCounter,
}

impl Aws {
    /// Loads the AWS configuration chain with lariat's overrides, and learns the account id
    /// (from the settings, or one `sts:GetCallerIdentity` call).
    pub async fn connect(settings: &AwsSettings) -> Result<Aws, AwsError> {
        Self::connect_with(settings, None).await
    }

    /// Like [`Aws::connect`], but with fixed credentials instead of the credential chain: for
    /// local emulators and tests, which accept any key.
    pub async fn connect_with_credentials(
        settings: &AwsSettings,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Result<Aws, AwsError> {
        let credentials = aws_sdk_sqs::config::Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "lariat-static",
        );
        Self::connect_with(settings, Some(credentials)).await
    }

    async fn connect_with(
        settings: &AwsSettings,
        credentials: Option<aws_sdk_sqs::config::Credentials>,
    ) -> Result<Aws, AwsError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(50))
                    .with_max_backoff(Duration::from_secs(5)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .build(),
            );
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(credentials) = credentials {
            loader = loader.credentials_provider(credentials);
        }
        let config = loader.load().await;
        let region = config.region().ok_or(AwsError::NoRegion)?.to_string();
        let requests = RequestCounter::default();
        let account_id = match &settings.account_id {
            Some(id) => id.clone(),
            None => aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&config)
                    .interceptor(requests.clone())
                    .build(),
            )
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| AwsError::Account {
                message: DisplayErrorContext(&e).to_string(),
            })?
            .account()
            .map(str::to_owned)
            .ok_or_else(|| AwsError::Account {
                message: "no account in the answer".into(),
            })?,
        };
        Ok(Aws::with_counter(
            &config,
            Arns { region, account_id },
            settings.endpoint_url.clone(),
            requests,
        ))
    }

    /// Wraps an SDK configuration the application already loaded (its own credentials,
    /// retry and endpoint settings), with the account id that ARNs are built from. No call is
    /// made.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), lariat::aws::AwsError> {
    /// let config = aws_config::load_from_env().await;
    /// let aws = lariat::aws::Aws::from_sdk_config(&config, "123456789012")?;
    /// # Ok(()) }
    /// ```
    pub fn from_sdk_config(
        config: &SdkConfig,
        account_id: impl Into<String>,
    ) -> Result<Aws, AwsError> {
        let region = config.region().ok_or(AwsError::NoRegion)?.to_string();
        Ok(Aws::with_counter(
            config,
            Arns {
                region,
                account_id: account_id.into(),
            },
            config.endpoint_url().map(str::to_owned),
            RequestCounter::default(),
        ))
    }

    /// Clients of `config` that count their requests in `requests`.
    fn with_counter(
        config: &SdkConfig,
        arns: Arns,
        endpoint_url: Option<String>,
        requests: RequestCounter,
    ) -> Aws {
        let sns = aws_sdk_sns::config::Builder::from(config)
            .interceptor(requests.clone())
            .build();
        let sqs = aws_sdk_sqs::config::Builder::from(config)
            .interceptor(requests.clone())
            .build();
        Aws {
            sns: aws_sdk_sns::Client::from_conf(sns),
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            arns,
            endpoint_url,
            requests,
        }
    }

    /// The requests this value's clients (and every clone's) have sent so far, by action
    /// (`sqs:CreateQueue`); a retried request counts once per attempt.
    pub fn requests(&self) -> RequestCounts {
        self.requests.snapshot()
    }

    /// Region and account, for ARNs.
    pub fn arns(&self) -> &Arns {
        &self.arns
    }

    /// The URL of a queue, built by AWS rules (or the emulator's, with an endpoint override)
    /// instead of asking `sqs:GetQueueUrl`.
    pub fn queue_url(&self, name: &str) -> String {
        queue_url(self.endpoint_url.as_deref(), &self.arns, name)
    }
}

/// `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`, or `ENDPOINT/ACCOUNT/NAME` for an emulator.
pub fn queue_url(endpoint_url: Option<&str>, arns: &Arns, name: &str) -> String {
    match endpoint_url {
        Some(endpoint) => format!(
            "{}/{}/{name}",
            endpoint.trim_end_matches('/'),
            arns.account_id
        ),
        None => format!(
            "https://sqs.{}.amazonaws.com/{}/{name}",
            arns.region, arns.account_id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls() {
        let arns = Arns {
            region: "eu-west-1".into(),
            account_id: "247602342345".into(),
        };
        assert_eq!(
            queue_url(None, &arns, "q"),
            "https://sqs.eu-west-1.amazonaws.com/247602342345/q"
        );
        assert_eq!(
            queue_url(Some("http://127.0.0.1:4566/"), &arns, "q.fifo"),
            "http://127.0.0.1:4566/247602342345/q.fifo"
        );
    }
}
