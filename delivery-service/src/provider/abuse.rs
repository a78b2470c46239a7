//! `/reportAbuse` at the hub: a report whose franks verify ([`Franker::check_report`],
//! without I/O) is kept durably; one that does not is refused and nothing is kept. A reporting
//! user keeps at most `max_abuse_reports_per_reporter` reports about one room (beyond it 429,
//! nothing kept; a byte-identical repeat of a kept one is not counted).
//!
//! [`Franker::check_report`]: crate::hub::franking::Franker::check_report

use super::{now_ms, Provider, ProviderError, Submitter};
use crate::hub::franking::AbuseRefusal;
use crate::store::{settle, Store, StoredAbuseReport, Write};
use mimi_protocol::abuse::AbuseReport;

impl<S: Store> Provider<S> {
    /// `/reportAbuse` for `room_id`, of which we must be the hub: a report whose franks verify
    /// is kept durably (once per distinct body) before `Ok(Ok(()))`; one that does not is
    /// `Ok(Err(refusal))` and nothing is kept. `body`: the report as received; `reporter`: who
    /// filed it (for the record).
    pub async fn report_abuse(
        &self,
        room_id: &str,
        report: &AbuseReport,
        body: &[u8],
        reporter: &Submitter,
    ) -> Result<Result<(), AbuseRefusal>, ProviderError> {
        self.slot(room_id)?;
        if let Err(refusal) = self.franker.check_report(&self.crypto, room_id, report) {
            tracing::info!(room = room_id, %reporter, %refusal, "abuse report refused");
            return Ok(Err(refusal));
        }
        let record = StoredAbuseReport {
            room: room_id.to_owned(),
            reporter: reporter.to_string(),
            received_ms: now_ms(),
            report: body.to_vec(),
        };
        // Counted for the reporting user (the API checked that it is the caller's, or the peer's
        // own), in the transaction that would keep it.
        let write = Write::AbuseReport {
            report: record,
            counted_as: report.reporting_user.as_str().to_owned(),
            max_per_reporter: self.quotas.abuse_reports_per_reporter,
        };
        settle(self.store.write(write)).await.map_err(|e| self.counted(e.into()))?;
        tracing::info!(room = room_id, %reporter, alleged = report.alleged_abuser_uri.as_str(),
            messages = report.messages.len(), "abuse report kept");
        Ok(Ok(()))
    }
}
