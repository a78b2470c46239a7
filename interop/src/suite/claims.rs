//! Judging `keyMaterial` answers (protocol-06 §5.2) for the hub checks `hub.keymaterial.*`, without
//! the network: whether a response's user code agrees with its per-client entries ([`code_consistency`]),
//! which KeyPackages it served ([`served`], validated, with their refs and whether they are marked
//! last-resort), and a [`Ledger`] of everything served across the suite's claims, which
//! says when a KeyPackage comes back a second time.
//!
//! The draft: `clients` MUST be populated for `success` and `partialSuccess`, MAY be for
//! `noCompatibleMaterial`, MUST NOT be for any other code; "key material from one response MUST NOT
//! appear in any other response". protocol-06 sets no last-resort policy; a KeyPackage marked
//! last-resort (mls-extensions-10's `last_resort_key_package` component or the older `last_resort`
//! extension, read by [`mimi_protocol::last_resort`] as the hub reads them) is the only one that may be
//! served again.

use std::collections::HashMap;

use mimi_protocol::key_material::{ClientKeyMaterialStatus, KeyMaterialResponse, KeyMaterialUserCode};
use mimi_protocol::last_resort::is_last_resort;
use openmls::prelude::{OpenMlsCrypto, ProtocolVersion};

/// One KeyPackage a response served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The client it was served for (`clientUri`).
    pub client: String,
    /// Its KeyPackageRef.
    pub reference: Vec<u8>,
    /// Whether it is marked last-resort (either form).
    pub last_resort: bool,
}

/// A KeyPackage served again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    /// The KeyPackage.
    pub served: Served,
    /// The number (1-based, in the order recorded) of the answer that served it first.
    pub first_answer: usize,
}

impl Repeat {
    /// One line naming the client, the ref and where it was served first.
    pub fn describe(&self) -> String {
        format!(
            "the KeyPackage of {} (ref {}{}) first served in answer {}",
            self.served.client,
            hex::encode(&self.served.reference),
            if self.served.last_resort { ", marked last_resort" } else { ", not marked last_resort" },
            self.first_answer
        )
    }
}

/// Checks §5.2's rules tying `userStatus` to `clients`; `Err` says which is broken.
pub fn code_consistency(response: &KeyMaterialResponse) -> Result<(), String> {
    let code = response.user_status;
    let successes =
        response.clients.iter().filter(|c| matches!(c.status, ClientKeyMaterialStatus::Success { .. })).count();
    let others = response.clients.len() - successes;
    match code {
        KeyMaterialUserCode::Success if successes == 0 || others > 0 => Err(format!(
            "userStatus success needs a KeyPackage for every listed client ({successes} served, {others} not)"
        )),
        KeyMaterialUserCode::PartialSuccess if successes == 0 || others == 0 => Err(format!(
            "userStatus partialSuccess needs some clients served and some not ({successes} served, {others} not)"
        )),
        KeyMaterialUserCode::NoCompatibleMaterial if successes > 0 => {
            Err(format!("userStatus noCompatibleMaterial with {successes} KeyPackages served"))
        }
        _ if !code.allows_clients() && !response.clients.is_empty() => {
            Err(format!("clients MUST NOT be populated with userStatus {code:?} ({} listed)", response.clients.len()))
        }
        _ => Ok(()),
    }
}

/// The KeyPackages `response` served, each validated (signature, lifetime, capabilities) with `crypto`.
pub fn served(response: &KeyMaterialResponse, crypto: &impl OpenMlsCrypto) -> Result<Vec<Served>, String> {
    let mut served = Vec::new();
    for client in &response.clients {
        if let ClientKeyMaterialStatus::Success { key_package } = &client.status {
            let kp = key_package
                .clone()
                .validate(crypto, ProtocolVersion::Mls10)
                .map_err(|e| format!("KeyPackage of {} is invalid: {e}", client.client_uri.as_str()))?;
            let reference = kp.hash_ref(crypto).map_err(|e| format!("KeyPackageRef: {e}"))?;
            let last_resort =
                is_last_resort(&kp).map_err(|e| format!("KeyPackage of {}: {e}", client.client_uri.as_str()))?;
            served.push(Served {
                client: client.client_uri.as_str().to_owned(),
                reference: reference.as_slice().to_vec(),
                last_resort,
            });
        }
    }
    Ok(served)
}

/// Every KeyPackage served to the suite, by ref, with the answer that served it first.
#[derive(Debug, Default)]
pub struct Ledger {
    first: HashMap<Vec<u8>, usize>,
    answers: usize,
}

impl Ledger {
    /// Records one answer's KeyPackages; returns those served before (in an earlier answer, or twice
    /// in this one).
    pub fn record(&mut self, served: &[Served]) -> Vec<Repeat> {
        self.answers += 1;
        let mut repeats = Vec::new();
        for s in served {
            match self.first.get(&s.reference) {
                Some(&first_answer) => repeats.push(Repeat { served: s.clone(), first_answer }),
                None => {
                    self.first.insert(s.reference.clone(), self.answers);
                }
            }
        }
        repeats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mimi_protocol::key_material::ClientKeyMaterial;
    use mimi_protocol::{IdentifierUri, Protocol};

    fn response(code: KeyMaterialUserCode, clients: Vec<ClientKeyMaterialStatus>) -> KeyMaterialResponse {
        KeyMaterialResponse {
            protocol: Protocol::Mls10,
            user_status: code,
            user_uri: IdentifierUri::new("mimi://a.example/u/erin"),
            clients: clients
                .into_iter()
                .map(|status| ClientKeyMaterial {
                    client_uri: IdentifierUri::new("mimi://a.example/d/erin/d1"),
                    status,
                })
                .collect(),
        }
    }

    #[test]
    fn codes_must_agree_with_clients() {
        use ClientKeyMaterialStatus::KeyMaterialExhausted as Exhausted;
        use KeyMaterialUserCode::*;
        assert!(code_consistency(&response(NoCompatibleMaterial, vec![Exhausted])).is_ok());
        assert!(code_consistency(&response(NoCompatibleMaterial, vec![])).is_ok());
        assert!(code_consistency(&response(UserUnknown, vec![])).is_ok());
        assert!(code_consistency(&response(Success, vec![])).unwrap_err().contains("success"));
        assert!(code_consistency(&response(Success, vec![Exhausted])).is_err());
        assert!(code_consistency(&response(PartialSuccess, vec![Exhausted])).is_err());
        assert!(code_consistency(&response(NoConsent, vec![Exhausted])).unwrap_err().contains("MUST NOT"));
    }

    #[test]
    fn served_key_packages_are_last_resort_in_either_form() {
        use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
        use openmls::prelude::{KeyPackage, KeyPackageIn};
        let crypto = openmls_rust_crypto::RustCrypto::default();
        let erin = mimi_testkit::prelude::TestClient::of("a.example", "erin", "d1").unwrap();
        let success = |kp: KeyPackage| ClientKeyMaterialStatus::Success {
            key_package: KeyPackageIn::tls_deserialize_exact(kp.tls_serialize_detached().unwrap()).unwrap(),
        };
        let marked = |kp: KeyPackage| {
            served(&response(KeyMaterialUserCode::Success, vec![success(kp)]), &crypto).map(|s| s[0].last_resort)
        };
        assert_eq!(marked(erin.issue_key_package().unwrap()), Ok(false));
        assert_eq!(marked(erin.issue_last_resort_key_package().unwrap()), Ok(true));
        // mls-extensions-10: component 0x0004 with empty data, beside a GREASE one.
        let components: [(u16, &[u8]); 2] = [(0x0004, b""), (0x0a0a, b"\x01")];
        assert_eq!(marked(erin.issue_key_package_with_components(&components).unwrap()), Ok(true));
        let with_data = marked(erin.issue_key_package_with_components(&[(0x0004, b"\x00")]).unwrap());
        assert!(with_data.unwrap_err().contains("0x0004"));
    }

    #[test]
    fn the_ledger_names_repeats_and_where_they_came_from() {
        let kp = |r: u8, last_resort| Served { client: "c".into(), reference: vec![r; 32], last_resort };
        let mut ledger = Ledger::default();
        assert!(ledger.record(&[kp(1, false)]).is_empty());
        assert!(ledger.record(&[kp(2, true)]).is_empty());
        let repeats = ledger.record(&[kp(2, true), kp(3, false)]);
        assert_eq!(repeats, vec![Repeat { served: kp(2, true), first_answer: 2 }]);
        assert!(repeats[0].describe().contains("marked last_resort"));
    }
}
