//! `capstan_rollout_bucket(rollout_key, device_id)` as an SQLite function: the bucket
//! (0–9,999) of `capstan_core::version::rollout_bucket`, the very function `/updates` decides
//! with, so the fleet preview can count a rolling group's devices by bucket inside the database
//! instead of reading every device id out. Registered on the reader connections when they open.
//!
//! sqlx has no API for user functions, so this goes through the raw handle it exposes and
//! `sqlite3_create_function_v2`, as sqlx's own `regexp` function does.

use std::ffi::{CStr, c_int};

use libsqlite3_sys as ffi;
use sqlx::SqliteConnection;

/// The SQL name (NUL-terminated for SQLite).
const NAME: &CStr = c"capstan_rollout_bucket";

/// Registers the function on `connection`.
pub async fn register(connection: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = connection.lock_handle().await?;
    // SAFETY: the handle is a live connection, locked for this call; the name is a static
    // C string; the function keeps no user data, so there is nothing to destroy.
    let code = unsafe {
        ffi::sqlite3_create_function_v2(
            handle.as_raw_handle().as_ptr(),
            NAME.as_ptr(),
            2,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC | ffi::SQLITE_INNOCUOUS,
            std::ptr::null_mut(),
            Some(bucket),
            None,
            None,
            None,
        )
    };
    if code == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(sqlx::Error::Protocol(format!("cannot register capstan_rollout_bucket: SQLite code {code}")))
    }
}

/// The function's body: NULL when either argument is NULL or not text.
unsafe extern "C" fn bucket(context: *mut ffi::sqlite3_context, count: c_int, values: *mut *mut ffi::sqlite3_value) {
    // SAFETY: SQLite passes `count` (= 2, as registered) valid values for this call.
    let (key, device_id) = unsafe {
        if count != 2 {
            ffi::sqlite3_result_null(context);
            return;
        }
        (text(*values), text(*values.add(1)))
    };
    match (key, device_id) {
        // SAFETY: the context is this call's.
        (Some(key), Some(device_id)) => unsafe {
            ffi::sqlite3_result_int(context, capstan_core::version::rollout_bucket(key, device_id) as c_int)
        },
        _ => unsafe { ffi::sqlite3_result_null(context) },
    }
}

/// A value's UTF-8 text, borrowed for the call; None for NULL, non-text or invalid UTF-8.
unsafe fn text<'a>(value: *mut ffi::sqlite3_value) -> Option<&'a str> {
    // SAFETY: the value is valid for the call; SQLite returns its UTF-8 bytes and their length.
    unsafe {
        if ffi::sqlite3_value_type(value) != ffi::SQLITE_TEXT {
            return None;
        }
        let bytes = ffi::sqlite3_value_text(value);
        let length = ffi::sqlite3_value_bytes(value);
        if bytes.is_null() || length < 0 {
            return None;
        }
        std::str::from_utf8(std::slice::from_raw_parts(bytes, length as usize)).ok()
    }
}
