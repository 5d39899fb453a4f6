//! The only part of lariat that talks to SNS and SQS.
//!
//! Clients are built once from the standard AWS configuration chain (environment, profiles,
//! SSO, IMDS), with an optional endpoint override for local emulators, and passed around as
//! one [`Aws`] value. Throttling and 5xx answers are retried by the SDK's standard retry mode
//! with exponential backoff.

mod error;
mod execute;
mod external;
pub mod inspect;
mod legacy;
mod notice;
pub mod publish;
mod receive;
pub mod requests;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::config::{AwsSettings, DEFAULT_CONNECT_TIMEOUT, DEFAULT_OPERATION_TIMEOUT};
use crate::naming::Arns;

pub use error::{AwsError, Cause, DETAIL_TARGET};
pub use execute::{AttributeDifference, SubscriptionListings};
pub use receive::{QueueInfo, SqsMessage, MAX_BATCH, MAX_WAIT_TIME};
pub use requests::RequestCounts;

use requests::RequestCounter;

use error::Target;

/// How many times a throttled or failed (5xx) request is tried in all.
pub const MAX_ATTEMPTS: u32 = 8;

/// A call gives up after this many times the operation timeout, retries of attempts that timed
/// out included: an endpoint that never answers fails the call in bounded time.
pub const TIMEOUT_ATTEMPTS: u32 = 3;

/// After this long without an answer, lariat logs what it is waiting for.
pub const WAIT_NOTICE: Duration = Duration::from_secs(5);

/// Connected SNS and SQS clients, with the region and account that ARNs and URLs are built from.
#[derive(Debug, Clone)]
pub struct Aws {
    /// SNS client.
    pub sns: aws_sdk_sns::Client,
    /// SQS client.
    pub sqs: aws_sdk_sqs::Client,
    arns: Arns,
    endpoint_url: Option<String>,
    target: Target,
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
        let connect_timeout = settings.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let attempt_timeout = settings
            .operation_timeout
            .unwrap_or(DEFAULT_OPERATION_TIMEOUT);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(50))
                    .with_max_backoff(Duration::from_secs(5)),
            )
            .timeout_config(timeouts(connect_timeout, attempt_timeout));
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
        let target = Target {
            endpoint_url: config.endpoint_url().map(str::to_owned),
            region: region.clone(),
            connect_timeout: Some(connect_timeout),
            attempt_timeout: Some(attempt_timeout),
        };
        let notice = notice::WaitNotice::new(attempt_timeout);
        let requests = RequestCounter::default();
        let sns = aws_sdk_sns::config::Builder::from(&config)
            .interceptor(notice.clone())
            .interceptor(requests.clone())
            .build();
        let sqs = aws_sdk_sqs::config::Builder::from(&config)
            .interceptor(notice.clone())
            .interceptor(requests.clone())
            .build();
        let account_id = match &settings.account_id {
            Some(id) => id.clone(),
            None => account_id(&config, &target, notice, requests.clone()).await?,
        };
        Ok(Aws {
            sns: aws_sdk_sns::Client::from_conf(sns),
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            arns: Arns { region, account_id },
            endpoint_url: settings.endpoint_url.clone(),
            target,
            requests,
        })
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
        let timeouts = config.timeout_config();
        let requests = RequestCounter::default();
        let sns = aws_sdk_sns::config::Builder::from(config)
            .interceptor(requests.clone())
            .build();
        let sqs = aws_sdk_sqs::config::Builder::from(config)
            .interceptor(requests.clone())
            .build();
        Ok(Aws {
            sns: aws_sdk_sns::Client::from_conf(sns),
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            requests,
            target: Target {
                endpoint_url: config.endpoint_url().map(str::to_owned),
                region: region.clone(),
                connect_timeout: timeouts.and_then(|t| t.connect_timeout()),
                attempt_timeout: timeouts.and_then(|t| t.operation_attempt_timeout()),
            },
            arns: Arns {
                region,
                account_id: account_id.into(),
            },
            endpoint_url: config.endpoint_url().map(str::to_owned),
        })
    }

    /// Describes a failed call of `action` on `resource`, naming the endpoint and timeouts of
    /// this client when AWS never answered.
    pub(crate) fn error<E>(
        &self,
        action: &'static str,
        resource: impl Into<String>,
        err: SdkError<E, HttpResponse>,
    ) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        AwsError::from_sdk(action, resource, &self.target, err)
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

/// The SDK's timeouts: `connect` to open a connection, `attempt` for each attempt's answer, and
/// [`TIMEOUT_ATTEMPTS`] times that for the whole call with its retries.
fn timeouts(connect: Duration, attempt: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(connect)
        .operation_attempt_timeout(attempt)
        .operation_timeout(attempt * TIMEOUT_ATTEMPTS)
        .build()
}

/// The account id of the credentials: one `sts:GetCallerIdentity` call.
async fn account_id(
    config: &SdkConfig,
    target: &Target,
    notice: notice::WaitNotice,
    requests: RequestCounter,
) -> Result<String, AwsError> {
    let sts = aws_sdk_sts::config::Builder::from(config)
        .interceptor(notice)
        .interceptor(requests)
        .build();
    let failed = |source| AwsError::Account {
        source: Box::new(source),
    };
    aws_sdk_sts::Client::from_conf(sts)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| failed(AwsError::from_sdk("sts:GetCallerIdentity", "", target, e)))?
        .account()
        .map(str::to_owned)
        .ok_or_else(|| {
            failed(AwsError::failed(
                "sts:GetCallerIdentity",
                "",
                None,
                "the answer holds no account id",
            ))
        })
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
