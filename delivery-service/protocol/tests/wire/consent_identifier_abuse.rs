use mimi_protocol::abuse::*;
use mimi_protocol::consent::*;
use mimi_protocol::identifier::*;
use mimi_protocol::{Body, IdentifierUri, Utf8String};
use openmls::extensions::AppDataDictionary;

use crate::fixture::{assert_hostile_inputs_rejected, fixture, round_trip};

fn scope(room: bool) -> ConsentScope {
    ConsentScope {
        requester_uri: IdentifierUri::new("r"),
        target_uri: IdentifierUri::new("t"),
        room_id: room.then(|| IdentifierUri::new("m")),
    }
}

#[test]
fn consent_entry_known_answers() {
    let request =
        ConsentEntry { consent: Consent::Request, scope: scope(false), consent_extensions: AppDataDictionary::new() };
    // request(1), "r", "t", roomId absent, empty dictionary (component_data<V> of length 0).
    assert_eq!(round_trip(&request), [0x01, 0x01, b'r', 0x01, b't', 0x00, 0x00]);
    let revoke =
        ConsentEntry { consent: Consent::Revoke, scope: scope(true), consent_extensions: AppDataDictionary::new() };
    assert_eq!(round_trip(&revoke), [0x03, 0x01, b'r', 0x01, b't', 0x01, 0x01, b'm', 0x00]);
    let empty_grant = ConsentEntry {
        consent: Consent::Grant { client_key_packages: vec![] },
        scope: scope(false),
        consent_extensions: AppDataDictionary::new(),
    };
    assert_eq!(round_trip(&empty_grant), [0x02, 0x01, b'r', 0x01, b't', 0x00, 0x00, 0x00]);
    assert!(ConsentEntry::decode(&[0x04, 0x01, b'r', 0x01, b't', 0x00, 0x00], 100).is_err());
}

#[test]
fn consent_grant_with_key_packages_and_extensions_round_trips() {
    let mut extensions = AppDataDictionary::new();
    let _ = extensions.insert(0x8001, vec![1, 2, 3]);
    let grant = ConsentEntry {
        consent: Consent::Grant { client_key_packages: vec![fixture().key_package.clone()] },
        scope: scope(true),
        consent_extensions: extensions,
    };
    let bytes = round_trip(&grant);
    assert_hostile_inputs_rejected::<ConsentEntry>(&bytes);
}

#[test]
fn identifier_request_and_response_round_trip() {
    let request = IdentifierRequest {
        query_elements: vec![
            QueryElement { search: SearchField::Handle, search_value: Utf8String::from("im:alice@a.example") },
            QueryElement {
                search: SearchField::OidcStdClaim { claim_name: b"given_name".to_vec().into() },
                search_value: Utf8String::from("Alice"),
            },
            QueryElement {
                search: SearchField::VcardField { property_name: b"ORG".to_vec().into() },
                search_value: Utf8String::from("Example"),
            },
        ],
        id_request_extensions: AppDataDictionary::new(),
    };
    let bytes = round_trip(&request);
    // query_elements<V>: first element handle(1), then its searchValue.
    assert_eq!(&bytes[1..3], &[0x01, 18]);
    assert_hostile_inputs_rejected::<IdentifierRequest>(&bytes);

    let response = IdentifierResponse {
        response_code: IdentifierQueryCode::Success,
        uri: vec![IdentifierUri::new("mimi://a.example/u/alice")],
        found_profiles: vec![UserProfile {
            stable_uri: IdentifierUri::new("mimi://a.example/u/alice"),
            fields: vec![ProfileField {
                field_source: FieldSource::VcardField,
                field_name: Utf8String::from("FN"),
                field_value: b"Alice Smith".to_vec().into(),
            }],
        }],
        id_response_extensions: AppDataDictionary::new(),
    };
    let bytes = round_trip(&response);
    assert_eq!(bytes[0], 0x00);
    assert_hostile_inputs_rejected::<IdentifierResponse>(&bytes);
    let not_found = IdentifierResponse {
        response_code: IdentifierQueryCode::NotFound,
        uri: vec![],
        found_profiles: vec![],
        id_response_extensions: AppDataDictionary::new(),
    };
    assert_eq!(round_trip(&not_found), [0x01, 0x00, 0x00, 0x00]);
    // FieldSource reserved(0) and SearchIdentifierType reserved(0) are refused.
    assert!(IdentifierRequest::decode(&[0x02, 0x00, 0x00, 0x00], 10).is_err());
}

#[test]
fn abuse_report_round_trips() {
    let report = AbuseReport {
        reporting_user: IdentifierUri::new("mimi://c.example/u/cathy"),
        alleged_abuser_uri: IdentifierUri::new("mimi://b.example/u/bob"),
        reason_code: AbuseType(0),
        note: Utf8String::from("spam"),
        messages: vec![AbusiveMessage {
            message_content: vec![0xa1, 0x01, 0x02].into(),
            frank: crate::submit::frank(),
            accepted_timestamp: 1_700_000_000_000,
        }],
        abuse_extensions: AppDataDictionary::new(),
    };
    let bytes = round_trip(&report);
    assert_hostile_inputs_rejected::<AbuseReport>(&bytes);
}
