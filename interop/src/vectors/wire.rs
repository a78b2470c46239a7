//! `wire.json`: every protocol-06 structure `mimi-ds` implements (`mimi_protocol`), encoded by its codec,
//! its `fields` being its published JSON form (`forms`).
//!
//! Top-level bodies go through `Body::encode`/`Body::decode` (bounded, canonical, with the draft's
//! consistency rules); nested structures through their `tls_codec` implementation. There is an entry per
//! select arm and per response code (all `UpdateResponseCode`s, `SubmitResponseCode`s,
//! `KeyMaterialUserCode`s, `KeyMaterialClientCode`s, `GroupInfoCode`s, `ConsentOperation`s, framings of
//! `FanoutMessage`, representations of `RatchetTreeOption` and `GroupInfoOption`, …). Embedded MLS objects
//! come from [`MlsObjects`]; signatures are Ed25519 (deterministic) and HPKE ephemeral keys come from the
//! seeded provider, so the file is identical on every run.

use mimi_protocol::abuse::{AbuseReport, AbuseType, AbusiveMessage};
use mimi_protocol::client_api::{ClientQueue, KeyPackageUpload, RoomEntries};
use mimi_protocol::consent::{Consent, ConsentEntry, ConsentScope};
use mimi_protocol::franking::{Frank, FrankAAD, FrankingAgentData, FrankingIntegrityTBS, ServerFrankingContext};
use mimi_protocol::group_info::{
    ExternalSender, GroupInfoCode, GroupInfoRatchetTreeTBE, GroupInfoRequest, GroupInfoRequestTBS, GroupInfoResponse,
    GroupInfoResponseTBS, GroupInfoStatus, PendingProposal,
};
use mimi_protocol::identifier::{
    FieldSource, IdentifierQueryCode, IdentifierRequest, IdentifierResponse, ProfileField, QueryElement, SearchField,
    UserProfile,
};
use mimi_protocol::key_material::{
    ClientKeyMaterial, ClientKeyMaterialStatus, KeyMaterialRequest, KeyMaterialRequestTBS, KeyMaterialResponse,
    KeyMaterialUserCode,
};
use mimi_protocol::notify::{FanoutFraming, FanoutMessage};
use mimi_protocol::ratchet_tree::{PartialGroupInfo, RatchetTreeOption, RatchetTreePresence};
use mimi_protocol::submit::{SubmitMessageRequest, SubmitMessageResponse, SubmitMessageStatus};
use mimi_protocol::update::{
    GroupInfoOption, HandshakeBundle, HandshakeBundleContent, UpdateRequest, UpdateRoomOutcome, UpdateRoomResponse,
};
use mimi_protocol::{Body, IdentifierUri, Protocol, Utf8String, DEFAULT_MAX_BODY_LEN};
use openmls::extensions::AppDataDictionary;
use openmls::prelude::{
    CredentialType, Extension, ExtensionType, ProposalType, RequiredCapabilitiesExtension, VerifiableCiphersuite,
};
use openmls_traits::OpenMlsProvider;
use tls_codec::Serialize;

use super::forms::Form;
use super::mls::{MlsObjects, CS};
use super::render::published;
use super::{check_decodes, entry, Entry, Vector};
use crate::inspect::{decode_tls_exact, Structure};
use crate::Error;

/// Implements [`Vector`] for top-level bodies (through `Body`) and nested structures (through tls_codec),
/// the name → decoder table [`check_struct`] and the list [`STRUCTURES`], from one list. Every one has a
/// [`Form`] (`forms`).
macro_rules! wire_vectors {
    (bodies: [$($body:ty),* $(,)?], nested: [$($nested:ty => $name:literal),* $(,)?]) => {
        $(
            impl Vector for $body {
                const STRUCT: &'static str = <$body as Body>::NAME;

                fn encode_vector(&self) -> Result<Vec<u8>, Error> {
                    Ok(Body::encode(self)?)
                }

                fn decode_vector(bytes: &[u8]) -> Result<Self, Error> {
                    Ok(<$body as Body>::decode(bytes, DEFAULT_MAX_BODY_LEN)?)
                }
            }
        )*
        $(
            impl Vector for $nested {
                const STRUCT: &'static str = $name;

                fn encode_vector(&self) -> Result<Vec<u8>, Error> {
                    self.tls_serialize_detached().map_err(|source| Error::Tls { structure: $name, source })
                }

                fn decode_vector(bytes: &[u8]) -> Result<Self, Error> {
                    decode_tls_exact(bytes, $name)
                }
            }
        )*

        /// Every wire structure, for `mimi-interop decode|encode`.
        pub const STRUCTURES: &[Structure] = &[$(Structure::of::<$body>(),)* $(Structure::of::<$nested>(),)*];

        /// Decodes `bytes` as the wire structure named `structure` and checks the re-encoding.
        pub fn check_struct(structure: &str, bytes: &[u8]) -> Result<(), Error> {
            $(if structure == <$body as Vector>::STRUCT { return check_decodes::<$body>(bytes); })*
            $(if structure == $name { return check_decodes::<$nested>(bytes); })*
            Err(Error::UnknownStruct(structure.to_owned()))
        }
    };
}

wire_vectors! {
    bodies: [
        KeyMaterialRequest, KeyMaterialResponse, UpdateRequest, UpdateRoomResponse, SubmitMessageRequest,
        SubmitMessageResponse, FanoutMessage, GroupInfoRequest, GroupInfoRatchetTreeTBE, GroupInfoResponse,
        ConsentEntry, IdentifierRequest, IdentifierResponse, AbuseReport,
        // our client API's bodies (not in wire.json)
        KeyPackageUpload, RoomEntries, ClientQueue,
    ],
    nested: [
        KeyMaterialRequestTBS => "KeyMaterialRequestTBS",
        ClientKeyMaterial => "ClientKeyMaterial",
        HandshakeBundle => "HandshakeBundle",
        GroupInfoOption => "GroupInfoOption",
        PartialGroupInfo => "PartialGroupInfo",
        RatchetTreeOption => "RatchetTreeOption",
        Frank => "Frank",
        FrankAAD => "FrankAAD",
        FrankingAgentData => "FrankingAgentData",
        ServerFrankingContext => "ServerFrankingContext",
        FrankingIntegrityTBS => "FrankingIntegrityTBS",
        ExternalSender => "ExternalSender",
        GroupInfoRequestTBS => "GroupInfoRequestTBS",
        PendingProposal => "PendingProposal",
        GroupInfoResponseTBS => "GroupInfoResponseTBS",
        ConsentScope => "ConsentScope",
        QueryElement => "QueryElement",
        ProfileField => "ProfileField",
        UserProfile => "UserProfile",
        AbusiveMessage => "AbusiveMessage",
    ]
}

const ALICE: &str = "mimi://a.example/u/alice";
const BOB: &str = "mimi://b.example/u/bob";
const BOB_CLIENT: &str = "mimi://b.example/d/bob/1";
const ROOM: &str = "mimi://a.example/r/clubhouse";
/// Hub acceptance time of the vectors: 2026-01-01T00:00:00Z in milliseconds.
const ACCEPTED: u64 = 1_767_225_600_000;
/// The hub's franking HMAC key of the vectors.
const HUB_FRANKING_KEY: &[u8] = b"mimi-interop franking key";
/// The client's franking tag of the vectors.
const FRANKING_TAG: [u8; 32] = [0x5a; 32];

/// The entry of `value`, its `fields` being its published JSON form.
fn form_entry<T: Form>(variant: &str, value: &T) -> Result<Entry, Error> {
    entry(variant, value, published(value.to_json()?))
}

/// Generates `wire.json`.
pub fn generate() -> Result<Vec<Entry>, Error> {
    let m = MlsObjects::build()?;
    let mut out = Vec::new();
    key_material(&m, &mut out)?;
    update(&m, &mut out)?;
    submit_and_franking(&m, &mut out)?;
    group_info(&m, &mut out)?;
    consent_identifier_abuse(&m, &mut out)?;
    Ok(out)
}

fn key_material(m: &MlsObjects, out: &mut Vec<Entry>) -> Result<(), Error> {
    let tbs = KeyMaterialRequestTBS {
        protocol: Protocol::Mls10,
        requesting_user: IdentifierUri::new(ALICE),
        target_user: IdentifierUri::new(BOB),
        room_id: IdentifierUri::new(ROOM),
        acceptable_ciphersuites: vec![CS.into(), VerifiableCiphersuite::new(0x0a0a)],
        required_capabilities: RequiredCapabilitiesExtension::new(
            &[ExtensionType::AppDataDictionary],
            &[ProposalType::AppDataUpdate],
            &[CredentialType::Basic],
        ),
        requester_signature_key: m.alice_key.clone(),
        requester_credential: m.alice_credential.clone(),
    };
    out.push(form_entry("signed part", &tbs)?);
    let request = KeyMaterialRequest::sign(tbs, &m.alice_signer)?;
    out.push(form_entry("signed by alice", &request)?.with_note("Ed25519 SignWithLabel(\"KeyMaterialRequestTBS\")"));

    let client =
        |status: ClientKeyMaterialStatus| ClientKeyMaterial { client_uri: IdentifierUri::new(BOB_CLIENT), status };
    let clients = [
        ("success", client(ClientKeyMaterialStatus::Success { key_package: m.key_package.clone() })),
        ("keyMaterialExhausted", client(ClientKeyMaterialStatus::KeyMaterialExhausted)),
        (
            "nothingCompatible with capabilities",
            client(ClientKeyMaterialStatus::NothingCompatible { client_capabilities: Some(m.capabilities.clone()) }),
        ),
        ("nothingCompatible", client(ClientKeyMaterialStatus::NothingCompatible { client_capabilities: None })),
    ];
    for (variant, c) in &clients {
        out.push(form_entry(variant, c)?);
    }

    let codes = [
        (KeyMaterialUserCode::Success, "success", vec![clients[0].1.clone()]),
        (KeyMaterialUserCode::PartialSuccess, "partialSuccess", vec![clients[0].1.clone(), clients[1].1.clone()]),
        (KeyMaterialUserCode::IncompatibleProtocol, "incompatibleProtocol", vec![]),
        (KeyMaterialUserCode::NoCompatibleMaterial, "noCompatibleMaterial", vec![clients[2].1.clone()]),
        (KeyMaterialUserCode::UserUnknown, "userUnknown", vec![]),
        (KeyMaterialUserCode::NoConsent, "noConsent", vec![]),
        (KeyMaterialUserCode::NoConsentForThisRoom, "noConsentForThisRoom", vec![]),
        (KeyMaterialUserCode::UserDeleted, "userDeleted", vec![]),
    ];
    for (code, name, clients) in codes {
        let response = KeyMaterialResponse {
            protocol: Protocol::Mls10,
            user_status: code,
            user_uri: IdentifierUri::new(BOB),
            clients,
        };
        out.push(form_entry(name, &response)?);
    }
    Ok(())
}

fn update(m: &MlsObjects, out: &mut Vec<Entry>) -> Result<(), Error> {
    let partial = PartialGroupInfo {
        ratchet_tree_presence: RatchetTreePresence::NoRatchetTree,
        group_info_extensions: vec![Extension::ExternalSenders(vec![])],
        signature: vec![0x5e; 64].into(),
    };
    out.push(
        form_entry("no_ratchet_tree", &partial)?
            .with_note("the signature is a placeholder (64 bytes of 0x5e): only the encoding is tested"),
    );
    let options = [
        ("full", GroupInfoOption::Full { group_info: m.group_info.clone() }),
        ("partial", GroupInfoOption::Partial { partial_group_info: partial.clone() }),
    ];
    for (variant, option) in &options {
        out.push(form_entry(variant, option)?);
    }
    let trees = [
        ("full", RatchetTreeOption::Full { ratchet_tree: m.ratchet_tree.clone() }),
        (
            "httpsUri",
            RatchetTreeOption::HttpsUri {
                ratchet_tree_url: b"https://a.example/trees/clubhouse/1".to_vec().into(),
                tree_signature: vec![0x75; 64].into(),
            },
        ),
        ("outOfBand", RatchetTreeOption::OutOfBand { tree_signature: vec![0x75; 64].into() }),
        ("distributionService", RatchetTreeOption::DistributionService),
    ];
    for (variant, option) in &trees {
        out.push(form_entry(variant, option)?);
    }

    let bundles = [
        (
            "commit with Welcome, full GroupInfo, full tree",
            HandshakeBundle {
                proposal_or_commit: m.commit.clone(),
                content: HandshakeBundleContent::Commit {
                    welcome: Some(m.welcome.clone()),
                    group_info_option: options[0].1.clone(),
                    ratchet_tree_option: trees[0].1.clone(),
                },
            },
        ),
        (
            "commit without Welcome, partial GroupInfo, distributionService",
            HandshakeBundle {
                proposal_or_commit: m.commit.clone(),
                content: HandshakeBundleContent::Commit {
                    welcome: None,
                    group_info_option: options[1].1.clone(),
                    ratchet_tree_option: RatchetTreeOption::DistributionService,
                },
            },
        ),
        (
            "proposal with moreProposals",
            HandshakeBundle {
                proposal_or_commit: m.proposals[0].clone(),
                content: HandshakeBundleContent::Proposal { more_proposals: vec![m.proposals[1].clone()] },
            },
        ),
    ];
    out.push(form_entry(bundles[0].0, &bundles[0].1)?);
    for (variant, bundle) in bundles {
        out.push(
            form_entry(variant, &UpdateRequest { bundle })?
                .with_note("the body is exactly the HandshakeBundle (the room's protocol is not on the wire)"),
        );
    }

    let responses = [
        ("success", "", UpdateRoomOutcome::Success { accepted_timestamp: ACCEPTED }),
        (
            "wrongEpoch",
            "commit is for epoch 1, the room is at epoch 3",
            UpdateRoomOutcome::WrongEpoch { current_epoch: 3 },
        ),
        ("notAllowed", "missing capability canAddParticipant", UpdateRoomOutcome::NotAllowed),
        (
            "invalidProposal",
            "proposal refers to an unknown leaf",
            UpdateRoomOutcome::InvalidProposal { invalid_proposals: m.proposal_refs.clone() },
        ),
    ];
    for (name, description, outcome) in responses {
        let response = UpdateRoomResponse { error_description: Utf8String::from(description), outcome };
        out.push(form_entry(name, &response)?);
    }
    Ok(())
}

fn submit_and_franking(m: &MlsObjects, out: &mut Vec<Entry>) -> Result<(), Error> {
    let request = SubmitMessageRequest {
        protocol: Protocol::Mls10,
        app_message: m.application.clone(),
        sending_uri: IdentifierUri::new(ALICE),
    };
    out.push(form_entry("PrivateMessage", &request)?);

    let context = ServerFrankingContext {
        sender_uri: IdentifierUri::new(ALICE),
        room_uri: IdentifierUri::new(ROOM),
        accepted_timestamp: ACCEPTED,
    };
    out.push(form_entry("alice in clubhouse", &context)?);
    let aad = FrankAAD { franking_tag: FRANKING_TAG };
    out.push(form_entry("tag", &aad)?);
    let frank = Frank::issue(m.provider.crypto(), &m.hub_signer, CS, HUB_FRANKING_KEY, &FRANKING_TAG, context.clone())?;
    let tbs = FrankingIntegrityTBS {
        server_frank: frank.server_frank,
        franking_signature_ciphersuite: CS,
        context: context.clone(),
    };
    out.push(form_entry("signed part", &tbs)?);
    out.push(form_entry("issued by the hub", &frank)?.with_note(format!(
        "server_frank = HMAC-SHA256(key {:?}, franking_tag || ServerFrankingContext); signed by the hub's key",
        String::from_utf8_lossy(HUB_FRANKING_KEY)
    )));
    let agent = FrankingAgentData { franking_signature_key: m.hub_key.clone(), credential: m.hub_credential.clone() };
    out.push(form_entry("hub", &agent)?);

    let statuses = [
        (
            "accepted with frank",
            SubmitMessageStatus::Accepted { accepted_timestamp: ACCEPTED, frank: Some(frank.clone()) },
        ),
        ("accepted", SubmitMessageStatus::Accepted { accepted_timestamp: ACCEPTED, frank: None }),
        ("notAllowed", SubmitMessageStatus::NotAllowed),
        ("epochTooOld", SubmitMessageStatus::EpochTooOld { current_epoch: 3 }),
    ];
    for (variant, status) in statuses {
        out.push(form_entry(variant, &SubmitMessageResponse { protocol: Protocol::Mls10, status })?);
    }

    let fanouts = [
        ("application with frank", m.application.clone(), FanoutFraming::Application { frank: Some(frank) }),
        ("application", m.application.clone(), FanoutFraming::Application { frank: None }),
        (
            "welcome",
            m.welcome_message.clone(),
            FanoutFraming::Welcome {
                ratchet_tree_option: RatchetTreeOption::Full { ratchet_tree: m.ratchet_tree.clone() },
            },
        ),
        ("proposal", m.proposals[0].clone(), FanoutFraming::Proposal { more_proposals: vec![m.proposals[1].clone()] }),
        ("commit", m.commit.clone(), FanoutFraming::Commit { external_proposals: vec![] }),
    ];
    for (variant, message, framing) in fanouts {
        let fanout = FanoutMessage { timestamp: ACCEPTED, message, framing };
        out.push(form_entry(variant, &fanout)?);
    }
    Ok(())
}

fn group_info(m: &MlsObjects, out: &mut Vec<Entry>) -> Result<(), Error> {
    let hub_sender = ExternalSender { signature_key: m.hub_key.clone(), credential: m.hub_credential.clone() };
    out.push(form_entry("hub", &hub_sender)?);
    let public: Vec<u8> = m.group_info_keys.public.clone();
    let mut requests = Vec::new();
    for (variant, code) in [("without joiningCode", &b""[..]), ("with joiningCode", b"join-123")] {
        let request = GroupInfoRequest::sign(
            CS,
            m.alice_credential.clone(),
            m.alice_key.clone(),
            public.clone().into(),
            code.to_vec().into(),
            &m.alice_signer,
        )?;
        let tbs = request.tbs();
        out.push(form_entry(variant, &tbs)?);
        out.push(form_entry(variant, &request)?);
        requests.push(request);
    }

    let pending = PendingProposal { proposal: m.proposals[0].clone(), hub_accepted_time: ACCEPTED };
    out.push(form_entry("Remove", &pending)?);
    let tbe = GroupInfoRatchetTreeTBE {
        group_info: m.group_info.clone(),
        ratchet_tree_option: RatchetTreeOption::Full { ratchet_tree: m.ratchet_tree.clone() },
        pending_proposals: vec![pending],
    };
    out.push(form_entry("full tree, one pending proposal", &tbe)?);

    let response = GroupInfoResponse::seal_and_sign(
        m.provider.crypto(),
        &m.hub_signer,
        &requests[0],
        ROOM.as_bytes(),
        hub_sender.clone(),
        &tbe,
    )?;
    let GroupInfoStatus::Success(success) = &response.status else {
        return Err(Error::Generate("seal_and_sign did not return success".into()));
    };
    let tbs = GroupInfoResponseTBS {
        version: Protocol::Mls10,
        room_id: ROOM.as_bytes().into(),
        status: GroupInfoCode::Success,
        cipher_suite: CS,
        hub_sender: hub_sender.clone(),
        encrypted_groupinfo_and_tree: success.encrypted_groupinfo_and_tree.clone(),
    };
    out.push(form_entry("success", &tbs)?);
    out.push(form_entry("success", &response)?.with_note(format!(
        "encrypted to the request's groupInfoPublicKey (HPKE private key {}), context = room_id; \
         plaintext = the GroupInfoRatchetTreeTBE entry above",
        hex::encode(&*m.group_info_keys.private)
    )));
    for (variant, status) in
        [("notAuthorized", GroupInfoStatus::NotAuthorized), ("noSuchRoom", GroupInfoStatus::NoSuchRoom)]
    {
        let response = GroupInfoResponse { version: Protocol::Mls10, room_id: ROOM.as_bytes().into(), status };
        out.push(form_entry(variant, &response)?);
    }
    Ok(())
}

fn consent_identifier_abuse(m: &MlsObjects, out: &mut Vec<Entry>) -> Result<(), Error> {
    let scope = |room: bool| ConsentScope {
        requester_uri: IdentifierUri::new(ALICE),
        target_uri: IdentifierUri::new(BOB),
        room_id: room.then(|| IdentifierUri::new(ROOM)),
    };
    for (variant, room) in [("any room", false), ("one room", true)] {
        let s = scope(room);
        out.push(form_entry(variant, &s)?);
    }
    let mut extensions = AppDataDictionary::new();
    // A private-range component, to show a non-empty consent_extensions.
    let _ = extensions.insert(0x8001, b"example".to_vec());
    let entries = [
        ("cancel", Consent::Cancel, scope(false), AppDataDictionary::new()),
        ("request", Consent::Request, scope(true), AppDataDictionary::new()),
        ("grant", Consent::Grant { client_key_packages: vec![m.key_package.clone()] }, scope(true), extensions),
        ("revoke", Consent::Revoke, scope(false), AppDataDictionary::new()),
    ];
    for (variant, consent, scope, consent_extensions) in entries {
        out.push(form_entry(variant, &ConsentEntry { consent, scope, consent_extensions })?);
    }

    let queries = [
        QueryElement { search: SearchField::Handle, search_value: Utf8String::from("im:bob@b.example") },
        QueryElement { search: SearchField::Nick, search_value: Utf8String::from("bob") },
        QueryElement { search: SearchField::Email, search_value: Utf8String::from("bob@b.example") },
        QueryElement { search: SearchField::Phone, search_value: Utf8String::from("+15550100") },
        QueryElement { search: SearchField::PartialName, search_value: Utf8String::from("bo") },
        QueryElement { search: SearchField::WholeProfile, search_value: Utf8String::from("Example") },
        QueryElement {
            search: SearchField::OidcStdClaim { claim_name: b"given_name".to_vec().into() },
            search_value: Utf8String::from("Bob"),
        },
        QueryElement {
            search: SearchField::VcardField { property_name: b"ORG".to_vec().into() },
            search_value: Utf8String::from("Example Inc."),
        },
    ];
    for q in &queries {
        // The variant is the search type's name.
        let form = q.to_json()?;
        let variant = form["searchType"].as_str().unwrap_or_default().split('(').next().unwrap_or_default().to_owned();
        out.push(form_entry(&variant, q)?);
    }
    let request =
        IdentifierRequest { query_elements: queries[6..].to_vec(), id_request_extensions: AppDataDictionary::new() };
    out.push(form_entry("two elements (AND)", &request)?);

    let field = ProfileField {
        field_source: FieldSource::OidcStdClaim,
        field_name: Utf8String::from("given_name"),
        field_value: b"Bob".to_vec().into(),
    };
    out.push(form_entry("oidcStdClaim", &field)?);
    let profile = UserProfile {
        stable_uri: IdentifierUri::new(BOB),
        fields: vec![
            field.clone(),
            ProfileField {
                field_source: FieldSource::VcardField,
                field_name: Utf8String::from("ORG"),
                field_value: b"Example Inc.".to_vec().into(),
            },
        ],
    };
    out.push(form_entry("two fields", &profile)?);
    let codes = [
        (IdentifierQueryCode::Success, "success"),
        (IdentifierQueryCode::NotFound, "notFound"),
        (IdentifierQueryCode::Ambiguous, "ambiguous"),
        (IdentifierQueryCode::Forbidden, "forbidden"),
        (IdentifierQueryCode::UnsupportedField, "unsupportedField"),
    ];
    for (code, name) in codes {
        let found = code == IdentifierQueryCode::Success;
        let response = IdentifierResponse {
            response_code: code,
            uri: if found { vec![IdentifierUri::new(BOB)] } else { vec![] },
            found_profiles: if found { vec![profile.clone()] } else { vec![] },
            id_response_extensions: AppDataDictionary::new(),
        };
        out.push(form_entry(name, &response)?);
    }

    let frank = Frank::issue(
        m.provider.crypto(),
        &m.hub_signer,
        CS,
        HUB_FRANKING_KEY,
        &FRANKING_TAG,
        ServerFrankingContext {
            sender_uri: IdentifierUri::new(BOB),
            room_uri: IdentifierUri::new(ROOM),
            accepted_timestamp: ACCEPTED,
        },
    )?;
    let abusive = AbusiveMessage {
        message_content: b"(decrypted MIMI content)".to_vec().into(),
        frank,
        accepted_timestamp: ACCEPTED,
    };
    out.push(form_entry("one message", &abusive)?);
    let report = AbuseReport {
        reporting_user: IdentifierUri::new(ALICE),
        alleged_abuser_uri: IdentifierUri::new(BOB),
        reason_code: AbuseType(0),
        note: Utf8String::from("spam"),
        messages: vec![abusive],
        abuse_extensions: AppDataDictionary::new(),
    };
    out.push(form_entry("one message", &report)?.with_note("no AbuseType is assigned yet; 0 is carried as is"));
    Ok(())
}
