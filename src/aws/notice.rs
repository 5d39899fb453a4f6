//! Saying what lariat waits for: when an AWS call has had no answer for [`WAIT_NOTICE`], one
//! warning names the call, the endpoint and when lariat gives up, so a slow or silent endpoint
//! is never a silent hang.
//!
//! An interceptor on every client arms a timer when an attempt is sent and disarms it when the
//! answer arrives or the attempt ends; the timer lives in the attempt's config bag, so dropping
//! the call (a timeout, Ctrl-C) disarms it too.

use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use super::{MAX_WAIT_TIME, TIMEOUT_ATTEMPTS, WAIT_NOTICE};
use crate::duration::show;

/// The interceptor; `attempt_timeout` is only quoted in the warning.
#[derive(Debug, Clone)]
pub(crate) struct WaitNotice {
    attempt_timeout: Duration,
}

impl WaitNotice {
    pub(crate) fn new(attempt_timeout: Duration) -> WaitNotice {
        WaitNotice { attempt_timeout }
    }
}

/// The armed timer of one attempt; aborted when the last clone is dropped.
#[derive(Debug, Clone)]
struct Armed {
    _timer: Arc<Timer>,
}

#[derive(Debug)]
struct Timer(tokio::task::AbortHandle);

impl Drop for Timer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Storable for Armed {
    type Storer = StoreReplace<Armed>;
}

impl Intercept for WaitNotice {
    fn name(&self) -> &'static str {
        "lariat::WaitNotice"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Ok(());
        };
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_lowercase(), m.name().to_owned()))
            .unwrap_or_default();
        // a long poll waits for messages by design: only its own wait is not news
        let after = match operation.as_str() {
            "ReceiveMessage" => WAIT_NOTICE + MAX_WAIT_TIME,
            _ => WAIT_NOTICE,
        };
        let uri = context.request().uri();
        let endpoint = uri
            .split_once("://")
            .and_then(|(scheme, rest)| {
                let host = rest.split('/').next()?;
                Some(format!("{scheme}://{host}"))
            })
            .unwrap_or_else(|| uri.to_owned());
        let attempt = self.attempt_timeout;
        let task = runtime.spawn(async move {
            tokio::time::sleep(after).await;
            tracing::warn!(
                "waiting for {service}:{operation} at {endpoint}: no answer after {}; lariat gives up after {} an attempt, {} in all (operation_timeout)",
                show(after),
                show(attempt),
                show(attempt * TIMEOUT_ATTEMPTS)
            );
        });
        cfg.interceptor_state().store_put(Armed {
            _timer: Arc::new(Timer(task.abort_handle())),
        });
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        _: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().unset::<Armed>();
        Ok(())
    }

    fn read_after_attempt(
        &self,
        _: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().unset::<Armed>();
        Ok(())
    }
}
