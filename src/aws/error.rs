//! Errors of AWS calls, written for people: one line with the action, the resource, AWS's
//! error code and message (or the real cause when AWS never answered: connection refused, a
//! timeout, no credentials), and lariat's hint where it has one.
//!
//! The SDK's own `Debug` form of an error (`ServiceError(ServiceError { source: ..., raw:
//! Response { ... } })`) is logged at debug level under the target [`DETAIL_TARGET`], which
//! `-v` shows; it is never part of an error's text.

use std::error::Error as StdError;
use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::MAX_ATTEMPTS;

/// The tracing target of the SDK's full error dumps (debug level).
pub const DETAIL_TARGET: &str = "lariat::aws::detail";

/// Why an AWS call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// AWS answered with an error code and message.
    Service,
    /// No connection could be made: refused, unreachable, a name that does not resolve.
    Connect,
    /// No connection within the connect timeout, or no answer within the operation timeout.
    Timeout,
    /// No credentials could be loaded, so no request was sent.
    Credentials,
    /// Anything else: an answer that could not be read, a request that could not be built.
    Other,
}

/// An error from AWS, with what lariat was doing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AwsError {
    /// No region in any configuration source.
    #[error("no AWS region is configured: set AWS_REGION, `region` under [aws] in lariat.toml, or pass --region")]
    NoRegion,
    /// The account id could not be found.
    #[error("cannot find the AWS account id: {source}{}", account_hint(source))]
    Account {
        /// Why `sts:GetCallerIdentity` failed.
        source: Box<AwsError>,
    },
    /// A request failed (after retries).
    #[error("{action}{}{resource}: {}{message}{}", if resource.is_empty() { "" } else { " " }, code_prefix(code.as_deref()), hint_suffix(hint.as_deref()))]
    Request {
        /// The API action, e.g. `sqs:CreateQueue`.
        action: &'static str,
        /// The topic, queue or subscription (empty when the call has none).
        resource: String,
        /// The AWS error code, when AWS answered with one.
        code: Option<String>,
        /// What AWS said, or what went wrong when it never answered; one line.
        message: String,
        /// What to do about it, when lariat knows.
        hint: Option<String>,
        /// Why it failed.
        cause: Cause,
    },
    /// A queue exists with attributes other than the declared ones.
    #[error("queue {queue} already exists with other attributes:{}\n  it was created or changed outside these migrations; change it back, or declare its current attributes with [[change_queue]] in a new migration", differences.iter().map(|d| format!("\n    {d}")).collect::<String>())]
    QueueDiffers {
        /// The queue.
        queue: String,
        /// Each attribute that differs.
        differences: Vec<super::AttributeDifference>,
    },
    /// A topic exists with an attribute that only `CreateTopic` sets (e.g. `FifoTopic`),
    /// other than the declared one.
    #[error("topic {topic} already exists with attributes that cannot be changed:{}\n  it was created outside these migrations; delete it (or give the declared topic another name), then run again", differences.iter().map(|d| format!("\n    {d}")).collect::<String>())]
    TopicDiffers {
        /// The topic.
        topic: String,
        /// Each attribute that differs.
        differences: Vec<super::AttributeDifference>,
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

fn code_prefix(code: Option<&str>) -> String {
    code.map(|c| format!("{c}: ")).unwrap_or_default()
}

fn hint_suffix(hint: Option<&str>) -> String {
    hint.map(|h| format!("; {h}")).unwrap_or_default()
}

/// Setting the account id only helps when STS answered and refused.
fn account_hint(source: &AwsError) -> &'static str {
    match source.failure() {
        Some(Cause::Service) | None => {
            "; or set `account_id` under [aws] in lariat.toml (--account-id) to skip sts:GetCallerIdentity"
        }
        _ => "",
    }
}

/// Where a client sends its requests and how long it waits, for naming the cause of a failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Target {
    /// The endpoint override; AWS's regional endpoint without one.
    pub endpoint_url: Option<String>,
    /// The region, for AWS's endpoint.
    pub region: String,
    /// The connect timeout, when lariat set it.
    pub connect_timeout: Option<Duration>,
    /// The timeout of one attempt, when lariat set it.
    pub attempt_timeout: Option<Duration>,
}

impl Target {
    /// The endpoint of `service` (`sns`, `sqs`, `sts`).
    pub fn endpoint(&self, service: &str) -> String {
        match &self.endpoint_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("https://{service}.{}.amazonaws.com", self.region),
        }
    }
}

impl AwsError {
    /// A failure lariat found itself (no SDK error): `code` when it stands for one of AWS's.
    pub(crate) fn failed(
        action: &'static str,
        resource: impl Into<String>,
        code: Option<&str>,
        message: impl Into<String>,
    ) -> AwsError {
        AwsError::Request {
            action,
            resource: resource.into(),
            code: code.map(str::to_owned),
            message: message.into(),
            hint: None,
            cause: if code.is_some() {
                Cause::Service
            } else {
                Cause::Other
            },
        }
    }

    /// Describes a failed SDK call of `action` on `resource` sent to `target`: AWS's code and
    /// message, or the real cause when AWS never answered. The SDK's `Debug` form goes to the
    /// debug log only.
    pub(crate) fn from_sdk<E>(
        action: &'static str,
        resource: impl Into<String>,
        target: &Target,
        err: SdkError<E, HttpResponse>,
    ) -> AwsError
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        let resource = resource.into();
        tracing::debug!(target: DETAIL_TARGET, "{action}{}{resource}: {err:?}", if resource.is_empty() { "" } else { " " });
        let service = action.split(':').next().unwrap_or(action);
        let endpoint = target.endpoint(service);
        let (cause, code, message, hint) = describe(action, &endpoint, target, &err);
        let mut message = one_line(&message);
        if hint.is_some() && message.ends_with('.') {
            // "...permissions.; set ..." reads badly
            message.pop();
        }
        AwsError::Request {
            action,
            resource,
            code,
            message,
            hint,
            cause,
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
        super::execute::is_code(self, &["NotFound", "NonExistentQueue", "QueueDoesNotExist"])
    }

    /// A failure that may pass by itself: no answer (connection, timeout), throttling or a
    /// server error that outlasted the retries. Running the same command again may finish.
    pub fn is_transient(&self) -> bool {
        match self.failure() {
            Some(Cause::Connect | Cause::Timeout | Cause::Other) => true,
            Some(Cause::Service) => super::execute::is_code(
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

    /// Why a request failed; `None` for errors that are not about one request.
    pub fn failure(&self) -> Option<Cause> {
        match self {
            AwsError::Request { cause, .. } => Some(*cause),
            AwsError::Account { source } => source.failure(),
            _ => None,
        }
    }

    /// The error without the action and resource: `CODE: message; hint`.
    pub fn reason(&self) -> String {
        match self {
            AwsError::Request {
                code,
                message,
                hint,
                ..
            } => format!(
                "{}{message}{}",
                code_prefix(code.as_deref()),
                hint_suffix(hint.as_deref())
            ),
            other => other.to_string(),
        }
    }
}

type Described = (Cause, Option<String>, String, Option<String>);

fn describe<E>(
    action: &str,
    endpoint: &str,
    target: &Target,
    err: &SdkError<E, HttpResponse>,
) -> Described
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    if let Some(code) = err.code() {
        let message = err.message().unwrap_or_default().to_owned();
        return (
            Cause::Service,
            Some(code.to_owned()),
            message,
            service_hint(action, code),
        );
    }
    match err {
        SdkError::TimeoutError(_) => timed_out(endpoint, target, err),
        SdkError::DispatchFailure(failure) => {
            if let Some(credentials) = find::<CredentialsError>(err) {
                return no_credentials(credentials);
            }
            if failure.is_timeout() {
                let within = target
                    .connect_timeout
                    .map(|t| format!(" within {}", crate::duration::show(t)))
                    .unwrap_or_default();
                return (
                    Cause::Timeout,
                    None,
                    format!("could not connect to {endpoint}{within}: timed out"),
                    Some(format!(
                        "check that the endpoint is right and reachable{}",
                        raise("connect_timeout", "--connect-timeout")
                    )),
                );
            }
            if failure.is_io() {
                let why = match find::<std::io::Error>(err) {
                    Some(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                        "connection refused".to_owned()
                    }
                    Some(io) => io_text(io),
                    None => causes(err),
                };
                let hint = match target.endpoint_url {
                    Some(_) => "check the endpoint (--endpoint-url, AWS_ENDPOINT_URL or `endpoint_url` under [aws]) and that the service behind it is running",
                    None => "check the network connection to AWS",
                };
                return (
                    Cause::Connect,
                    None,
                    format!("could not connect to {endpoint}: {why}"),
                    Some(hint.to_owned()),
                );
            }
            (
                Cause::Other,
                None,
                format!("the request to {endpoint} failed: {}", causes(err)),
                None,
            )
        }
        SdkError::ResponseError(_) | SdkError::ServiceError(_) => {
            let status = err
                .raw_response()
                .map(|r| format!(" (HTTP {})", r.status().as_u16()))
                .unwrap_or_default();
            (
                Cause::Other,
                None,
                format!(
                    "the answer of {endpoint}{status} could not be read: {}",
                    causes(err)
                ),
                None,
            )
        }
        SdkError::ConstructionFailure(_) => (
            Cause::Other,
            None,
            format!("the request could not be built: {}", causes(err)),
            None,
        ),
        _ => (Cause::Other, None, causes(err), None),
    }
}

fn timed_out<E>(endpoint: &str, target: &Target, err: &SdkError<E, HttpResponse>) -> Described
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let message = match target.attempt_timeout {
        Some(t) => format!(
            "timed out: {endpoint} did not answer within {} an attempt ({} in all, retries included)",
            crate::duration::show(t),
            crate::duration::show(t * super::TIMEOUT_ATTEMPTS)
        ),
        None => format!("timed out: {endpoint} did not answer ({})", causes(err)),
    };
    (
        Cause::Timeout,
        None,
        message,
        Some(format!(
            "check that the endpoint is right and answers{}",
            raise("operation_timeout", "--operation-timeout")
        )),
    )
}

fn raise(key: &str, flag: &str) -> String {
    format!(", or raise `{key}` under [aws] in lariat.toml ({flag}) if it is only slow")
}

fn no_credentials(err: &CredentialsError) -> Described {
    let message = match err {
        CredentialsError::CredentialsNotLoaded(_) => {
            "no AWS credentials were found (environment, profiles, SSO, web identity, container and instance metadata were tried)".to_owned()
        }
        other => format!("the AWS credentials could not be loaded: {}", causes(other)),
    };
    (
        Cause::Credentials,
        None,
        message,
        Some("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, choose a profile with AWS_PROFILE or --profile, or log in with `aws sso login`".to_owned()),
    )
}

/// lariat's hint for an error code AWS answered with, when it has one.
fn service_hint(action: &str, code: &str) -> Option<String> {
    let credentials = [
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "MissingAuthenticationToken",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSecurity",
    ];
    let denied = [
        "AccessDenied",
        "AccessDeniedException",
        "AuthorizationError",
        "AuthorizationErrorException",
    ];
    let throttled = [
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
    ];
    let code = code.rsplit('.').next().unwrap_or(code);
    if credentials.contains(&code) {
        Some(
            "check your AWS credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE or --profile, SSO login)"
                .to_owned(),
        )
    } else if denied.contains(&code) {
        Some(format!(
            "the credentials may not call {action}: grant it in their IAM policy"
        ))
    } else if throttled.contains(&code) {
        Some(format!("AWS still throttled after {MAX_ATTEMPTS} attempts: lower --concurrency, or try again later"))
    } else {
        None
    }
}

/// The first error of type `T` in the source chain of `err`.
fn find<'e, T: StdError + 'static>(err: &'e (dyn StdError + 'static)) -> Option<&'e T> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// `Connection reset by peer (os error 104)` reads `connection reset by peer`.
fn io_text(err: &std::io::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" (os error") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The Display texts of the source chain below the SDK's own one-word summary ("dispatch
/// failure", "service error"), each only when the text so far does not already say it.
fn causes(err: &(dyn StdError + 'static)) -> String {
    let mut text = String::new();
    let mut next = err.source().or(Some(err));
    while let Some(e) = next {
        let part = e.to_string();
        if !part.is_empty() && !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        next = e.source();
    }
    text
}

/// One line without control characters: an answer's text may hold newlines or escapes.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim().chars() {
        match c {
            '\n' | '\r' | '\t' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::operation::list_queues::ListQueuesError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn target(endpoint: Option<&str>) -> Target {
        Target {
            endpoint_url: endpoint.map(str::to_owned),
            region: "eu-west-1".into(),
            connect_timeout: Some(Duration::from_secs(3)),
            attempt_timeout: Some(Duration::from_secs(20)),
        }
    }

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(status.try_into().unwrap(), SdkBody::from("<xml/>"))
    }

    #[test]
    fn service_errors_show_code_and_message_without_the_sdk_dump() {
        let err = ListQueuesError::generic(
            ErrorMetadata::builder()
                .code("InvalidParameter")
                .message("Invalid parameter: Amazon SNS does not support this protocol string: sns")
                .build(),
        );
        let err = AwsError::from_sdk(
            "sns:Subscribe",
            "A -> B",
            &target(None),
            SdkError::service_error(err, response(400)),
        );
        assert_eq!(
            err.to_string(),
            "sns:Subscribe A -> B: InvalidParameter: Invalid parameter: Amazon SNS does not support this protocol string: sns"
        );
        assert_eq!(err.code(), Some("InvalidParameter"));
        assert_eq!(err.failure(), Some(Cause::Service));
    }

    #[test]
    fn a_refused_connection_names_the_endpoint() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let err = AwsError::from_sdk(
            "sqs:ListQueues",
            "(all queues)",
            &target(Some("http://127.0.0.1:9/")),
            SdkError::<ListQueuesError, HttpResponse>::dispatch_failure(ConnectorError::io(
                Box::new(io),
            )),
        );
        let text = err.to_string();
        assert!(
            text.starts_with(
                "sqs:ListQueues (all queues): could not connect to http://127.0.0.1:9: connection refused; check the endpoint"
            ),
            "{text}"
        );
        assert_eq!(err.failure(), Some(Cause::Connect));
    }

    #[test]
    fn a_timeout_says_how_long_lariat_waited() {
        let err = AwsError::from_sdk(
            "sns:ListTopics",
            "(all topics)",
            &target(None),
            SdkError::<ListQueuesError, HttpResponse>::timeout_error("operation attempt timeout"),
        );
        let text = err.to_string();
        assert!(
            text.starts_with("sns:ListTopics (all topics): timed out: https://sns.eu-west-1.amazonaws.com did not answer within 20s"),
            "{text}"
        );
        assert!(text.contains("operation_timeout"), "{text}");
        assert_eq!(err.failure(), Some(Cause::Timeout));
    }

    #[test]
    fn missing_credentials_are_named() {
        let creds = CredentialsError::not_loaded("no providers in chain provided credentials");
        let err = AwsError::from_sdk(
            "sts:GetCallerIdentity",
            "",
            &target(None),
            SdkError::<ListQueuesError, HttpResponse>::dispatch_failure(ConnectorError::other(
                Box::new(creds),
                None,
            )),
        );
        let account = AwsError::Account {
            source: Box::new(err),
        };
        let text = account.to_string();
        assert!(
            text.starts_with("cannot find the AWS account id: sts:GetCallerIdentity: no AWS credentials were found"),
            "{text}"
        );
        assert!(text.contains("AWS_ACCESS_KEY_ID"), "{text}");
        assert!(!text.contains("account_id"), "{text}");
    }

    #[test]
    fn denied_sts_suggests_the_account_id_setting() {
        let err = ListQueuesError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not allowed")
                .build(),
        );
        let account = AwsError::Account {
            source: Box::new(AwsError::from_sdk(
                "sts:GetCallerIdentity",
                "",
                &target(None),
                SdkError::service_error(err, response(403)),
            )),
        };
        let text = account.to_string();
        assert!(
            text.contains(
                "AccessDenied: not allowed; the credentials may not call sts:GetCallerIdentity"
            ),
            "{text}"
        );
        assert!(text.ends_with("to skip sts:GetCallerIdentity"), "{text}");
    }

    #[test]
    fn answers_become_one_line_without_escapes() {
        assert_eq!(one_line(" a\nb\r\n\tc\x1b[31m "), "a b c\\u{1b}[31m");
    }
}
