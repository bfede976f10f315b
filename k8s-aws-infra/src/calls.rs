//! Counting the API calls made, split into reads and mutations, with an SDK interceptor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_ec2::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use serde::Serialize;

/// How many AWS API calls were made (one per operation, SDK-internal retries not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallCounts {
    /// Describe/Get/List calls.
    pub read: u64,
    /// Everything else: Create, Modify, Delete, Attach, Authorize, Register, Run, Terminate, ...
    pub mutating: u64,
}

impl CallCounts {
    /// read + mutating.
    pub fn total(&self) -> u64 {
        self.read + self.mutating
    }

    /// The calls made since `earlier`.
    pub fn since(&self, earlier: CallCounts) -> CallCounts {
        CallCounts {
            read: self.read.saturating_sub(earlier.read),
            mutating: self.mutating.saturating_sub(earlier.mutating),
        }
    }
}

/// True for operations that change nothing.
pub(crate) fn is_read_only(operation: &str) -> bool {
    ["Describe", "Get", "List"]
        .iter()
        .any(|p| operation.starts_with(p))
}

#[derive(Debug, Default)]
pub(crate) struct Counter {
    read: AtomicU64,
    mutating: AtomicU64,
}

impl Counter {
    pub(crate) fn snapshot(&self) -> CallCounts {
        CallCounts {
            read: self.read.load(Ordering::Relaxed),
            mutating: self.mutating.load(Ordering::Relaxed),
        }
    }
}

/// Counts every operation; with `read_only`, refuses mutating ones before they are sent
/// (the guarantee behind `plan` and `status`).
#[derive(Debug, Clone)]
pub(crate) struct CallInterceptor {
    pub(crate) counter: Arc<Counter>,
    pub(crate) read_only: bool,
}

impl Intercept for CallInterceptor {
    fn name(&self) -> &'static str {
        "k8s-aws-infra call counter"
    }

    // Not `read_before_execution`: client interceptors run that before the operation's own
    // configuration (which holds its name) is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_default();
        if is_read_only(&op) {
            self.counter.read.fetch_add(1, Ordering::Relaxed);
        } else {
            if self.read_only {
                return Err(format!("{op} refused: this is a read-only run").into());
            }
            self.counter.mutating.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}
