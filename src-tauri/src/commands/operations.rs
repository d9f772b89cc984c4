//! Cancelling long operations.

use tauri::State;

use crate::operations::Operations;

/// Cancels a running operation; returns false when it had already finished.
#[tauri::command]
pub async fn cancel_operation(operations: State<'_, Operations>, operation_id: String) -> Result<bool, ()> {
    Ok(operations.cancel(&operation_id))
}
