//! Our devices' lifecycle as the store records it, and the decisions a store makes when it applies
//! a registration, a token, a revocation or a removal, so that every back end decides alike from
//! what it looked up (and checks everything before it writes anything).
//!
//! A device is **active** from its registration; **revoked**, its tokens are deleted and nothing
//! authenticates it any more, while its name stays taken (no new device can appear under the URI
//! other members may still see in their rooms); **removed**, also its name is free again, and
//! the store keeps when it was removed, so that a login issued before cannot bring it back. Both
//! end its membership in the user's list of clients that claims serve, and delete its unclaimed
//! KeyPackages.

use mimi_appsync::uri::ClientUri;

use super::codes::{check_code, CodeRecord};
use super::tokens::{check_token, TokenRecord};
use super::{AuthRefusal, Voucher};

/// Where a device is in its lifecycle (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStatus {
    /// Registered; its tokens work.
    Active,
    /// Revoked by the operator: nothing authenticates it; its name stays taken.
    Revoked,
    /// Removed by the operator: its name is free again.
    Removed,
}

impl ClientStatus {
    /// The stored byte.
    pub fn to_byte(self) -> u8 {
        match self {
            ClientStatus::Active => 1,
            ClientStatus::Revoked => 2,
            ClientStatus::Removed => 3,
        }
    }

    /// From the stored byte.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(ClientStatus::Active),
            2 => Some(ClientStatus::Revoked),
            3 => Some(ClientStatus::Removed),
            _ => None,
        }
    }

    /// Its name in listings (`active`, `revoked`, `removed`).
    pub fn name(self) -> &'static str {
        match self {
            ClientStatus::Active => "active",
            ClientStatus::Revoked => "revoked",
            ClientStatus::Removed => "removed",
        }
    }
}

/// A device as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// Its user's URI.
    pub user: String,
    /// Where it is in its lifecycle.
    pub status: ClientStatus,
    /// Since when (registration, revocation or removal), milliseconds since the UNIX epoch.
    pub since_ms: u64,
}

/// What a registration the store admitted does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Record the device as active (and spend the code, store the token).
    Register,
    /// A login for a device that is registered already: nothing to write.
    AlreadyRegistered,
}

/// Whether the store registers `client` (of `user`) at `now_ms`, presented with `voucher`, from what
/// it looked up: the record under the device's name (`existing`), and, for the voucher, the
/// enrollment code's record (`code`) or the other device's token (`device_token`).
/// `first_use`: the registration is a login's first use (no token of ours is issued), which
/// finds an active device already registered; otherwise an existing name is refused.
///
/// The voucher is checked before the name: a caller without a valid credential learns nothing
/// about which devices exist, and a refusal for an existing name spends no code.
#[allow(clippy::too_many_arguments)]
pub fn admit_registration(
    client: &str,
    user: &str,
    voucher: &Voucher,
    first_use: bool,
    existing: Option<&ClientRecord>,
    code: Option<&CodeRecord>,
    device_token: Option<&TokenRecord>,
    now_ms: u64,
) -> Result<Admission, AuthRefusal> {
    match voucher {
        Voucher::Open => {}
        Voucher::Code { .. } => check_code(code, user, now_ms)?,
        Voucher::Device { .. } => {
            let owner = check_token(device_token, now_ms)?;
            if !ClientUri::parse(owner).is_ok_and(|o| o.user().as_str() == user) {
                return Err(AuthRefusal::OtherUser { owner: owner.to_owned(), user: user.to_owned() });
            }
        }
        Voucher::Login { issued_at_ms } => match existing {
            Some(r) if r.status == ClientStatus::Active && first_use => return Ok(Admission::AlreadyRegistered),
            Some(r) if r.status == ClientStatus::Active => {}
            Some(r) if r.status == ClientStatus::Revoked => {
                return Err(AuthRefusal::Revoked { client: client.to_owned() })
            }
            Some(r) if *issued_at_ms <= r.since_ms => {
                return Err(AuthRefusal::LoginBeforeRemoval { client: client.to_owned() })
            }
            _ => {}
        },
    }
    match existing.map(|r| r.status) {
        Some(ClientStatus::Active | ClientStatus::Revoked) => Err(AuthRefusal::Exists { client: client.to_owned() }),
        Some(ClientStatus::Removed) | None => Ok(Admission::Register),
    }
}

/// Whether the store gives `client` a new token at `now_ms`: the device must be active and, if the
/// new token replaces one (a renewal), that one must be a live token of the same device.
/// `replaced` is `None` when nothing is replaced, `Some(record)` with the store's record of the
/// replaced token otherwise.
pub fn admit_token(
    client: &str,
    existing: Option<&ClientRecord>,
    replaced: Option<Option<&TokenRecord>>,
    now_ms: u64,
) -> Result<(), AuthRefusal> {
    match existing.map(|r| r.status) {
        Some(ClientStatus::Active) => {}
        Some(ClientStatus::Revoked) => return Err(AuthRefusal::Revoked { client: client.to_owned() }),
        Some(ClientStatus::Removed) | None => return Err(AuthRefusal::UnknownClient { client: client.to_owned() }),
    }
    if let Some(replaced) = replaced {
        if check_token(replaced, now_ms)? != client {
            return Err(AuthRefusal::UnknownToken);
        }
    }
    Ok(())
}

/// How an operator ends a device (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `mimi-ds client revoke`.
    Revoke,
    /// `mimi-ds client remove`.
    Remove,
}

/// The record `client` gets when it is ended at `now_ms`, or why it cannot be: it must be
/// registered (active or revoked; revoking a revoked device again changes nothing).
pub fn admit_ending(
    client: &str,
    existing: Option<&ClientRecord>,
    ending: Ending,
    now_ms: u64,
) -> Result<ClientRecord, AuthRefusal> {
    let unknown = || AuthRefusal::UnknownClient { client: client.to_owned() };
    let existing = existing.filter(|r| r.status != ClientStatus::Removed).ok_or_else(unknown)?;
    Ok(match (ending, existing.status) {
        (Ending::Revoke, ClientStatus::Revoked) => existing.clone(),
        (Ending::Revoke, _) => ClientRecord { status: ClientStatus::Revoked, since_ms: now_ms, ..existing.clone() },
        (Ending::Remove, _) => ClientRecord { status: ClientStatus::Removed, since_ms: now_ms, ..existing.clone() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE: &str = "mimi://a.example/d/alice/phone";
    const ALICE: &str = "mimi://a.example/u/alice";

    fn record(status: ClientStatus, since_ms: u64) -> ClientRecord {
        ClientRecord { user: ALICE.into(), status, since_ms }
    }

    #[test]
    fn a_registration_checks_its_voucher_then_the_name() {
        use ClientStatus::*;
        let code = CodeRecord { user: ALICE.into(), expires_ms: 100 };
        let bob_code = CodeRecord { user: "mimi://a.example/u/bob".into(), expires_ms: 100 };
        let c = Voucher::Code { hash: vec![1] };
        fn admit(
            voucher: &Voucher,
            existing: Option<&ClientRecord>,
            code: Option<&CodeRecord>,
            token: Option<&TokenRecord>,
        ) -> Result<Admission, AuthRefusal> {
            let first_use = matches!(voucher, Voucher::Login { .. });
            admit_registration(PHONE, ALICE, voucher, first_use, existing, code, token, 50)
        }
        assert_eq!(admit(&c, None, Some(&code), None), Ok(Admission::Register));
        assert_eq!(admit(&c, None, Some(&bob_code), None), Err(AuthRefusal::BadCode));
        assert_eq!(admit(&c, None, None, None), Err(AuthRefusal::BadCode));
        // A bad code for an existing name is a bad code: nothing is said about the name.
        assert_eq!(admit(&c, Some(&record(Active, 1)), None, None), Err(AuthRefusal::BadCode));
        let exists = Err(AuthRefusal::Exists { client: PHONE.into() });
        assert_eq!(admit(&c, Some(&record(Active, 1)), Some(&code), None), exists);
        assert_eq!(admit(&c, Some(&record(Revoked, 1)), Some(&code), None), exists);
        assert_eq!(admit(&c, Some(&record(Removed, 1)), Some(&code), None), Ok(Admission::Register));
        assert_eq!(admit(&Voucher::Open, Some(&record(Active, 1)), None, None), exists);

        let d = Voucher::Device { token_hash: vec![2] };
        let laptop = TokenRecord { client: "mimi://a.example/d/alice/laptop".into(), expires_ms: 100 };
        let bobs = TokenRecord { client: "mimi://a.example/d/bob/phone".into(), expires_ms: 100 };
        let stale = TokenRecord { expires_ms: 50, ..laptop.clone() };
        assert_eq!(admit(&d, None, None, Some(&laptop)), Ok(Admission::Register));
        assert!(matches!(admit(&d, None, None, Some(&bobs)), Err(AuthRefusal::OtherUser { .. })));
        assert_eq!(admit(&d, None, None, Some(&stale)), Err(AuthRefusal::ExpiredToken));
        assert_eq!(admit(&d, None, None, None), Err(AuthRefusal::UnknownToken));

        let login = |issued_at_ms| Voucher::Login { issued_at_ms };
        assert_eq!(admit(&login(40), None, None, None), Ok(Admission::Register));
        assert_eq!(admit(&login(40), Some(&record(Active, 1)), None, None), Ok(Admission::AlreadyRegistered));
        assert_eq!(
            admit(&login(40), Some(&record(Revoked, 1)), None, None),
            Err(AuthRefusal::Revoked { client: PHONE.into() })
        );
        let before = Err(AuthRefusal::LoginBeforeRemoval { client: PHONE.into() });
        assert_eq!(admit(&login(30), Some(&record(Removed, 30)), None, None), before);
        assert_eq!(admit(&login(31), Some(&record(Removed, 30)), None, None), Ok(Admission::Register));
        // A login registering its device explicitly (for one of our tokens) finds the name taken.
        let explicit = admit_registration(PHONE, ALICE, &login(40), false, Some(&record(Active, 1)), None, None, 50);
        assert_eq!(explicit, exists);
    }

    #[test]
    fn a_token_is_given_to_an_active_device_and_renews_only_its_own_live_token() {
        use ClientStatus::*;
        let own = TokenRecord { client: PHONE.into(), expires_ms: 100 };
        let other = TokenRecord { client: "mimi://a.example/d/alice/laptop".into(), expires_ms: 100 };
        assert_eq!(admit_token(PHONE, Some(&record(Active, 1)), None, 50), Ok(()));
        assert_eq!(admit_token(PHONE, Some(&record(Active, 1)), Some(Some(&own)), 50), Ok(()));
        assert_eq!(admit_token(PHONE, Some(&record(Active, 1)), Some(Some(&own)), 100), Err(AuthRefusal::ExpiredToken));
        assert_eq!(
            admit_token(PHONE, Some(&record(Active, 1)), Some(Some(&other)), 50),
            Err(AuthRefusal::UnknownToken)
        );
        assert_eq!(admit_token(PHONE, Some(&record(Active, 1)), Some(None), 50), Err(AuthRefusal::UnknownToken));
        assert_eq!(
            admit_token(PHONE, Some(&record(Revoked, 1)), None, 50),
            Err(AuthRefusal::Revoked { client: PHONE.into() })
        );
        assert!(matches!(admit_token(PHONE, None, None, 50), Err(AuthRefusal::UnknownClient { .. })));
    }

    #[test]
    fn only_a_registered_device_is_ended_and_a_second_revocation_changes_nothing() {
        use ClientStatus::*;
        assert_eq!(admit_ending(PHONE, Some(&record(Active, 1)), Ending::Revoke, 9), Ok(record(Revoked, 9)));
        assert_eq!(admit_ending(PHONE, Some(&record(Revoked, 5)), Ending::Revoke, 9), Ok(record(Revoked, 5)));
        assert_eq!(admit_ending(PHONE, Some(&record(Revoked, 5)), Ending::Remove, 9), Ok(record(Removed, 9)));
        assert!(matches!(
            admit_ending(PHONE, Some(&record(Removed, 5)), Ending::Remove, 9),
            Err(AuthRefusal::UnknownClient { .. })
        ));
        assert!(matches!(admit_ending(PHONE, None, Ending::Revoke, 9), Err(AuthRefusal::UnknownClient { .. })));
        for s in [Active, Revoked, Removed] {
            assert_eq!(ClientStatus::from_byte(s.to_byte()), Some(s));
        }
        assert_eq!(ClientStatus::from_byte(0), None);
    }
}
