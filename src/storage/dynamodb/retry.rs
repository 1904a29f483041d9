//! Retries (`backon` via `AwsCaller`, within a deadline), error
//! classification, and the idempotent `TransactWriteItems` call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::{DynamoStorage, SERVICE};
use crate::aws::{self, RetryPolicy};
use crate::storage::StorageError;

pub(super) fn storage_retry_policy() -> RetryPolicy {
    RetryPolicy {
        deadline: Duration::from_secs(20),
        max_attempts: 12,
        min_delay: Duration::from_millis(25),
        max_delay: Duration::from_secs(2),
    }
}

impl DynamoStorage {
    pub(super) fn backend_error<E>(
        operation: &str,
        e: &aws::CallError<SdkError<E, HttpResponse>>,
    ) -> StorageError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        StorageError::Backend(aws::describe_call(SERVICE, operation, e))
    }

    /// Runs one transaction with retries. `ambiguous` is set when an attempt
    /// ended without a definite answer (sent, then no or a 5xx answer): it
    /// may have committed although the call as a whole failed.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        ambiguous: &AtomicBool,
    ) -> Result<(), aws::CallError<SdkError<TransactWriteItemsError, HttpResponse>>> {
        // Same token for every retry of this transaction: if an attempt whose
        // answer was lost did commit, DynamoDB answers the retry with success
        // instead of failing its own conditions (within its 10-minute token
        // window; emulators such as moto ignore the token, and `write_batch`
        // then recognizes the committed attempt by re-reading).
        let token = uuid::Uuid::new_v4().to_string();
        let request = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token);
        self.caller
            .call("TransactWriteItems", retryable_transaction, || {
                let attempt = request.clone().send();
                async move {
                    let out = attempt.await;
                    if let Err(e) = &out {
                        if outcome_unknown(e) {
                            ambiguous.store(true, Ordering::Relaxed);
                        }
                    }
                    out
                }
            })
            .await
            .map(|_| ())
    }
}

/// True when a failed attempt may nevertheless have been applied: the
/// request may have reached DynamoDB and its answer was lost (timeouts,
/// dropped connections) or was a server error. A 4xx answer (throttling,
/// validation, a cancelled transaction) is definite: nothing was applied.
pub(super) fn outcome_unknown<E>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::ConstructionFailure(_) => false,
        SdkError::DispatchFailure(d) => !d.is_user(),
        SdkError::ServiceError(s) => s.raw().status().is_server_error(),
        _ => true,
    }
}

pub(super) fn retryable<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(
    e: &SdkError<E, HttpResponse>,
) -> bool {
    aws::is_transient(e) || aws::error_code(e) == Some("TransactionConflictException")
}

/// Transient errors, and transactions cancelled only for transient reasons
/// (conflicting transactions, throttling) — never for a failed condition.
fn retryable_transaction(e: &SdkError<TransactWriteItemsError, HttpResponse>) -> bool {
    if retryable(e) {
        return true;
    }
    let SdkError::ServiceError(service) = e else {
        return false;
    };
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = service.err() else {
        return false;
    };
    let codes: Vec<&str> = cancelled
        .cancellation_reasons()
        .iter()
        .filter_map(|r| r.code())
        .filter(|c| *c != "None")
        .collect();
    !codes.is_empty()
        && codes.iter().all(|c| {
            matches!(
                *c,
                "TransactionConflict"
                    | "ThrottlingError"
                    | "ProvisionedThroughputExceeded"
                    | "RequestLimitExceeded"
            )
        })
}
