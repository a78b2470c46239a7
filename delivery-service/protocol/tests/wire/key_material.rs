use mimi_protocol::key_material::*;
use mimi_protocol::{Body, IdentifierUri, Protocol, WireError};
use openmls::prelude::*;

use crate::fixture::{assert_hostile_inputs_rejected, crypto, fixture, round_trip, CS};

fn request_tbs() -> KeyMaterialRequestTBS {
    let f = fixture();
    KeyMaterialRequestTBS {
        protocol: Protocol::Mls10,
        requesting_user: IdentifierUri::new("mimi://a.example/u/alice"),
        target_user: IdentifierUri::new("mimi://b.example/u/bob"),
        room_id: IdentifierUri::new("mimi://a.example/r/clubhouse"),
        acceptable_ciphersuites: vec![CS.into(), VerifiableCiphersuite::new(0x0a0a)],
        required_capabilities: RequiredCapabilitiesExtension::new(
            &[ExtensionType::AppDataDictionary],
            &[ProposalType::AppDataUpdate],
            &[CredentialType::Basic],
        ),
        requester_signature_key: f.alice_key.clone(),
        requester_credential: f.alice_credential.clone(),
    }
}

#[test]
fn key_material_request_round_trips_and_verifies() {
    let f = fixture();
    let request = KeyMaterialRequest::sign(request_tbs(), &f.alice_signer).unwrap();
    let bytes = round_trip(&request);
    // protocol mls10 = 0x01, then requestingUser as a varint-length opaque (24 bytes < 64: one byte).
    assert_eq!(bytes[0], 0x01);
    assert_eq!(bytes[1], 24);
    assert_eq!(&bytes[2..26], b"mimi://a.example/u/alice");
    request.verify(&crypto(), CS.signature_algorithm()).unwrap();

    let mut tampered = request.clone();
    tampered.tbs.room_id = IdentifierUri::new("mimi://a.example/r/other");
    assert!(matches!(
        tampered.verify(&crypto(), CS.signature_algorithm()),
        Err(WireError::BadSignature { what: "KeyMaterialRequestTBS" })
    ));
    assert_hostile_inputs_rejected::<KeyMaterialRequest>(&bytes);
}

#[test]
fn unknown_protocol_is_a_typed_decode_error() {
    let f = fixture();
    let mut bytes = KeyMaterialRequest::sign(request_tbs(), &f.alice_signer).unwrap().encode().unwrap();
    bytes[0] = 2;
    assert!(matches!(
        KeyMaterialRequest::decode(&bytes, usize::MAX),
        Err(WireError::Decode { what: "KeyMaterialRequest", offset: 1, source: tls_codec::Error::UnknownValue(2) })
    ));
}

#[test]
fn key_material_response_round_trips_every_client_status() {
    let f = fixture();
    let response = KeyMaterialResponse {
        protocol: Protocol::Mls10,
        user_status: KeyMaterialUserCode::PartialSuccess,
        user_uri: IdentifierUri::new("mimi://b.example/u/bob"),
        clients: vec![
            ClientKeyMaterial {
                client_uri: IdentifierUri::new("mimi://b.example/d/bob/1"),
                status: ClientKeyMaterialStatus::Success { key_package: f.key_package.clone() },
            },
            ClientKeyMaterial {
                client_uri: IdentifierUri::new("mimi://b.example/d/bob/2"),
                status: ClientKeyMaterialStatus::KeyMaterialExhausted,
            },
            ClientKeyMaterial {
                client_uri: IdentifierUri::new("mimi://b.example/d/bob/3"),
                status: ClientKeyMaterialStatus::NothingCompatible {
                    client_capabilities: Some(Capabilities::new(None, Some(&[CS]), None, None, None)),
                },
            },
            ClientKeyMaterial {
                client_uri: IdentifierUri::new("mimi://b.example/d/bob/4"),
                status: ClientKeyMaterialStatus::NothingCompatible { client_capabilities: None },
            },
        ],
    };
    let bytes = round_trip(&response);
    assert_eq!(&bytes[..3], &[0x01, 0x01, 22]);
    assert_hostile_inputs_rejected::<KeyMaterialResponse>(&bytes);
}

#[test]
fn client_key_material_known_answers() {
    let response = KeyMaterialResponse {
        protocol: Protocol::Mls10,
        user_status: KeyMaterialUserCode::NoCompatibleMaterial,
        user_uri: IdentifierUri::new("u"),
        clients: vec![
            ClientKeyMaterial {
                client_uri: IdentifierUri::new("c"),
                status: ClientKeyMaterialStatus::KeyMaterialExhausted,
            },
            ClientKeyMaterial {
                client_uri: IdentifierUri::new("d"),
                status: ClientKeyMaterialStatus::NothingCompatible { client_capabilities: None },
            },
        ],
    };
    // protocol, userStatus=3, userUri "u", clients<V> of 7 bytes: (1,"c") and (2,"d", optional absent).
    assert_eq!(round_trip(&response), [0x01, 0x03, 0x01, b'u', 0x07, 0x01, 0x01, b'c', 0x02, 0x01, b'd', 0x00]);
}

#[test]
fn user_codes_have_the_draft_values_and_forbid_clients_where_the_draft_does() {
    let codes = [
        (KeyMaterialUserCode::Success, 0u8),
        (KeyMaterialUserCode::PartialSuccess, 1),
        (KeyMaterialUserCode::IncompatibleProtocol, 2),
        (KeyMaterialUserCode::NoCompatibleMaterial, 3),
        (KeyMaterialUserCode::UserUnknown, 4),
        (KeyMaterialUserCode::NoConsent, 5),
        (KeyMaterialUserCode::NoConsentForThisRoom, 6),
        (KeyMaterialUserCode::UserDeleted, 7),
    ];
    for (code, value) in codes {
        let response = KeyMaterialResponse {
            protocol: Protocol::Mls10,
            user_status: code,
            user_uri: IdentifierUri::new("u"),
            clients: vec![ClientKeyMaterial {
                client_uri: IdentifierUri::new("c"),
                status: ClientKeyMaterialStatus::KeyMaterialExhausted,
            }],
        };
        let mut bytes = KeyMaterialResponse { clients: vec![], ..response.clone() }.encode().unwrap();
        assert_eq!(bytes[1], value);
        if code.allows_clients() {
            round_trip(&response);
        } else {
            assert!(matches!(response.encode(), Err(WireError::Inconsistent { .. })));
            // The same bytes from a peer are refused too.
            bytes.truncate(bytes.len() - 1);
            bytes.extend_from_slice(&[0x03, 0x01, 0x01, b'c']);
            assert!(matches!(KeyMaterialResponse::decode(&bytes, usize::MAX), Err(WireError::Inconsistent { .. })));
        }
    }
    assert_eq!(KeyMaterialClientCode::NothingCompatible as u8, 2);
}
