//! Column forms shared by both backends, so that both store the same text:
//! JSON columns, and enum columns whose types carry no `as_str` of their own.

use serde::Serialize;

use crate::domain::model::CaptureMode;
use crate::domain::store::StoreError;

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("encoding JSON: {e}")))
}

pub(crate) fn opt_json<T: Serialize>(value: Option<&T>) -> Result<Option<String>, StoreError> {
    value.map(to_json).transpose()
}

pub(crate) fn capture_str(mode: CaptureMode) -> &'static str {
    match mode {
        CaptureMode::Automatic => "automatic",
        CaptureMode::Manual => "manual",
    }
}

pub(crate) fn parse_capture(s: &str) -> Option<CaptureMode> {
    match s {
        "automatic" => Some(CaptureMode::Automatic),
        "manual" => Some(CaptureMode::Manual),
        _ => None,
    }
}
