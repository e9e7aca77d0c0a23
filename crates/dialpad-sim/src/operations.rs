//! The table of Dialpad operations the simulator serves, each named by its operationId in the
//! 2026 spec. Tests use it to prove coverage (schema conformance, stats per operation).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    pub method: &'static str,
    /// The spec's path template, e.g. `/api/v2/contacts/{id}`.
    pub path: &'static str,
    pub operation_id: &'static str,
}

impl Op {
    pub const fn new(method: &'static str, path: &'static str, operation_id: &'static str) -> Self {
        Op {
            method,
            path,
            operation_id,
        }
    }
}

/// Every Dialpad operation the simulator implements.
pub fn all() -> Vec<Op> {
    [
        crate::contacts::OPERATIONS,
        crate::org::OPERATIONS,
        crate::oauth::OPERATIONS,
        crate::activity::OPERATIONS,
        crate::channels::OPERATIONS,
        crate::subscriptions::OPERATIONS,
        crate::websockets::OPERATIONS,
    ]
    .concat()
}
