//! Open registration: anyone may register any user and device of our domain (a device name that
//! exists is still refused). Only for demos and simulations, by explicit configuration
//! (`registration = "open"`); the provider logs a warning when it starts with it.

use super::{AuthRefusal, Authority, Login, Voucher};

/// Registration without credentials.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenRegistration;

impl Authority for OpenRegistration {
    fn name(&self) -> &'static str {
        "open"
    }

    fn uncredentialed(&self) -> Result<Voucher, AuthRefusal> {
        Ok(Voucher::Open)
    }

    /// A code is not needed; one given anyway is not looked at.
    fn code(&self, _code: &str) -> Result<Voucher, AuthRefusal> {
        Ok(Voucher::Open)
    }

    fn login(&self, _bearer: &str, _now_ms: u64) -> Option<Result<Login, AuthRefusal>> {
        None
    }
}
