//! Long operations the UI can cancel, by the id the UI chose when it started them.

use std::collections::HashMap;
use std::sync::Mutex;

use capstan_core::progress::CancelFlag;

/// The cancel flags of running operations.
#[derive(Debug, Default)]
pub struct Operations(Mutex<HashMap<String, CancelFlag>>);

impl Operations {
    /// Registers an operation; it is forgotten when the returned guard drops.
    pub fn start(&self, id: &str) -> OperationGuard<'_> {
        let flag = CancelFlag::new();
        self.0.lock().expect("operations lock").insert(id.to_owned(), flag.clone());
        OperationGuard { operations: self, id: id.to_owned(), flag }
    }

    /// Cancels the operation `id`; false when no such operation runs.
    pub fn cancel(&self, id: &str) -> bool {
        match self.0.lock().expect("operations lock").get(id) {
            Some(flag) => {
                flag.cancel();
                true
            }
            None => false,
        }
    }
}

/// A running operation; dropping it unregisters it.
pub struct OperationGuard<'a> {
    operations: &'a Operations,
    id: String,
    /// The flag the operation polls.
    pub flag: CancelFlag,
}

impl Drop for OperationGuard<'_> {
    fn drop(&mut self) {
        self.operations.0.lock().expect("operations lock").remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_reaches_the_running_operation_only() {
        let operations = Operations::default();
        let guard = operations.start("pack-1");
        assert!(!operations.cancel("pack-2"));
        assert!(operations.cancel("pack-1"));
        assert!(guard.flag.is_cancelled());
        drop(guard);
        assert!(!operations.cancel("pack-1"), "finished operations are forgotten");
    }
}
