//! `wire.json`: every protocol-06 structure `mimi-ds` implements (`mimi_protocol`), encoded by its codec.
//!
//! Top-level bodies go through `Body::encode`/`Body::decode` (bounded, canonical, with the draft's
//! consistency rules); nested structures through their `tls_codec` implementation. There is an entry per
//! select arm and per response code (all `UpdateResponseCode`s, `SubmitResponseCode`s,
//! `KeyMaterialUserCode`s, `KeyMaterialClientCode`s, `GroupInfoCode`s, `ConsentOperation`s, framings of
//! `FanoutMessage`, representations of `RatchetTreeOption` and `GroupInfoOption`, …). Embedded MLS objects
//! come from [`MlsObjects`]; signatures are Ed25519 (deterministic) and HPKE ephemeral keys come from the
//! seeded provider, so the file is identical on every run.

use mimi_protocol::abuse::{AbuseReport, AbuseType, AbusiveMessage};
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
use serde_json::{json, Value as Json};
use tls_codec::{Deserialize, Serialize};

use super::mls::{MlsObjects, CS};
use super::render::{self, ciphersuite, credential, hex, mls_message, named, opaque, signature_key};
use super::{check_decodes, entry, Entry, Vector};
use crate::Error;

/// Implements [`Vector`] for top-level bodies (through `Body`) and nested structures (through tls_codec),
/// and the name → decoder table [`check_struct`], from one list.
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
                    <$nested>::tls_deserialize_exact(bytes).map_err(|source| Error::Tls { structure: $name, source })
                }
            }
        )*

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

fn uri(u: &IdentifierUri) -> Json {
    json!(u.as_str())
}

fn dictionary(d: &AppDataDictionary) -> Json {
    json!(d.entries().map(|e| json!({ "component_id": e.id(), "data": hex(e.data()) })).collect::<Vec<_>>())
}

fn frank_fields(f: &Frank) -> Json {
    json!({
        "server_frank": hex(&f.server_frank),
        "franking_signature_ciphersuite": ciphersuite(f.franking_signature_ciphersuite),
        "franking_integrity_signature": hex(f.franking_integrity_signature.as_slice()),
    })
}

fn ratchet_tree_option_fields(o: &RatchetTreeOption) -> Json {
    match o {
        RatchetTreeOption::Full { ratchet_tree } => {
            json!({ "representation": named("full", 1), "ratchet_tree": opaque("ratchet_tree", ratchet_tree) })
        }
        RatchetTreeOption::HttpsUri { ratchet_tree_url, tree_signature } => json!({
            "representation": named("httpsUri", 2),
            "ratchet_tree_url": String::from_utf8_lossy(ratchet_tree_url.as_slice()),
            "tree_signature": hex(tree_signature.as_slice()),
        }),
        RatchetTreeOption::OutOfBand { tree_signature } => {
            json!({ "representation": named("outOfBand", 3), "tree_signature": hex(tree_signature.as_slice()) })
        }
        RatchetTreeOption::DistributionService => json!({ "representation": named("distributionService", 4) }),
    }
}

fn partial_group_info_fields(p: &PartialGroupInfo) -> Json {
    let presence = match p.ratchet_tree_presence {
        RatchetTreePresence::NoRatchetTree => named("no_ratchet_tree", 0),
        RatchetTreePresence::Present => named("present", 1),
        RatchetTreePresence::Removed => named("removed", 2),
        RatchetTreePresence::Added => named("added", 3),
    };
    json!({
        "ratchet_tree_presence": presence,
        "group_info_extensions": p.group_info_extensions.iter().map(|e| format!("{:?}", e.extension_type())).collect::<Vec<_>>(),
        "signature": hex(p.signature.as_slice()),
    })
}

fn group_info_option_fields(o: &GroupInfoOption) -> Json {
    match o {
        GroupInfoOption::Full { group_info } => {
            json!({ "representation": named("full", 1), "groupInfo": opaque("GroupInfo", group_info) })
        }
        GroupInfoOption::Partial { partial_group_info } => json!({
            "representation": named("partial", 2),
            "partialGroupInfo": partial_group_info_fields(partial_group_info),
        }),
    }
}

fn handshake_bundle_fields(b: &HandshakeBundle) -> Json {
    let mut out = json!({ "proposalOrCommit": mls_message(&b.proposal_or_commit) });
    match &b.content {
        HandshakeBundleContent::Commit { welcome, group_info_option, ratchet_tree_option } => {
            out["welcome"] = welcome.as_ref().map(|w| opaque("Welcome", w)).unwrap_or(Json::Null);
            out["groupInfoOption"] = group_info_option_fields(group_info_option);
            out["ratchetTreeOption"] = ratchet_tree_option_fields(ratchet_tree_option);
        }
        HandshakeBundleContent::Proposal { more_proposals } => {
            out["moreProposals"] = json!(more_proposals.iter().map(mls_message).collect::<Vec<_>>());
        }
    }
    out
}

fn fanout_fields(m: &FanoutMessage) -> Json {
    let mut out = json!({ "timestamp": m.timestamp, "message": mls_message(&m.message) });
    match &m.framing {
        FanoutFraming::Application { frank } => out["frank"] = frank.as_ref().map(frank_fields).unwrap_or(Json::Null),
        FanoutFraming::Welcome { ratchet_tree_option } => {
            out["ratchetTreeOption"] = ratchet_tree_option_fields(ratchet_tree_option)
        }
        FanoutFraming::Proposal { more_proposals } => {
            out["moreProposals"] = json!(more_proposals.iter().map(mls_message).collect::<Vec<_>>())
        }
        FanoutFraming::Commit { external_proposals } => {
            out["externalProposals"] = json!(external_proposals.iter().map(mls_message).collect::<Vec<_>>())
        }
    }
    out
}

fn external_sender_fields(s: &ExternalSender) -> Json {
    json!({ "signature_key": signature_key(&s.signature_key), "credential": credential(&s.credential) })
}

fn hpke_ciphertext(c: &openmls_traits::types::HpkeCiphertext) -> Json {
    json!({ "kem_output": hex(c.kem_output.as_slice()), "ciphertext": hex(c.ciphertext.as_slice()) })
}

fn server_context_fields(c: &ServerFrankingContext) -> Json {
    json!({ "sender_uri": uri(&c.sender_uri), "room_uri": uri(&c.room_uri), "accepted_timestamp": c.accepted_timestamp })
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
    let tbs_fields = json!({
        "protocol": named("mls10", 1),
        "requestingUser": uri(&tbs.requesting_user),
        "targetUser": uri(&tbs.target_user),
        "roomId": uri(&tbs.room_id),
        "acceptableCiphersuites": [ciphersuite(CS), named("GREASE", 0x0a0a)],
        "requiredCapabilities": {
            "extension_types": [named("app_data_dictionary", 6)],
            "proposal_types": [named("app_data_update", 8)],
            "credential_types": [named("basic", 1)],
        },
        "requesterSignatureKey": signature_key(&tbs.requester_signature_key),
        "requesterCredential": credential(&tbs.requester_credential),
    });
    out.push(entry("signed part", &tbs, tbs_fields.clone())?);
    let request = KeyMaterialRequest::sign(tbs, &m.alice_signer)?;
    let mut fields = tbs_fields;
    fields["key_material_request_signature"] = hex(request.key_material_request_signature.as_slice());
    out.push(entry("signed by alice", &request, fields)?.with_note("Ed25519 SignWithLabel(\"KeyMaterialRequestTBS\")"));

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
    let client_fields = |c: &ClientKeyMaterial| {
        let mut f = json!({ "clientUri": uri(&c.client_uri) });
        match &c.status {
            ClientKeyMaterialStatus::Success { key_package } => {
                f["clientStatus"] = named("success", 0);
                f["keyPackage"] = render::key_package(key_package);
            }
            ClientKeyMaterialStatus::KeyMaterialExhausted => f["clientStatus"] = named("keyMaterialExhausted", 1),
            ClientKeyMaterialStatus::NothingCompatible { client_capabilities } => {
                f["clientStatus"] = named("nothingCompatible", 2);
                f["clientCapabilities"] =
                    client_capabilities.as_ref().map(|c| opaque("Capabilities", c)).unwrap_or(Json::Null);
            }
        }
        f
    };
    for (variant, c) in &clients {
        out.push(entry(variant, c, client_fields(c))?);
    }

    let codes = [
        (KeyMaterialUserCode::Success, "success", 0, vec![clients[0].1.clone()]),
        (KeyMaterialUserCode::PartialSuccess, "partialSuccess", 1, vec![clients[0].1.clone(), clients[1].1.clone()]),
        (KeyMaterialUserCode::IncompatibleProtocol, "incompatibleProtocol", 2, vec![]),
        (KeyMaterialUserCode::NoCompatibleMaterial, "noCompatibleMaterial", 3, vec![clients[2].1.clone()]),
        (KeyMaterialUserCode::UserUnknown, "userUnknown", 4, vec![]),
        (KeyMaterialUserCode::NoConsent, "noConsent", 5, vec![]),
        (KeyMaterialUserCode::NoConsentForThisRoom, "noConsentForThisRoom", 6, vec![]),
        (KeyMaterialUserCode::UserDeleted, "userDeleted", 7, vec![]),
    ];
    for (code, name, value, clients) in codes {
        let response = KeyMaterialResponse {
            protocol: Protocol::Mls10,
            user_status: code,
            user_uri: IdentifierUri::new(BOB),
            clients,
        };
        let fields = json!({
            "protocol": named("mls10", 1),
            "userStatus": named(name, value),
            "userUri": uri(&response.user_uri),
            "clients": response.clients.iter().map(client_fields).collect::<Vec<_>>(),
        });
        out.push(entry(name, &response, fields)?);
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
        entry("no_ratchet_tree", &partial, partial_group_info_fields(&partial))?
            .with_note("the signature is a placeholder (64 bytes of 0x5e): only the encoding is tested"),
    );
    let options = [
        ("full", GroupInfoOption::Full { group_info: m.group_info.clone() }),
        ("partial", GroupInfoOption::Partial { partial_group_info: partial.clone() }),
    ];
    for (variant, option) in &options {
        out.push(entry(variant, option, group_info_option_fields(option))?);
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
        out.push(entry(variant, option, ratchet_tree_option_fields(option))?);
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
    out.push(entry(bundles[0].0, &bundles[0].1, handshake_bundle_fields(&bundles[0].1))?);
    for (variant, bundle) in bundles {
        let fields = json!({ "bundle": handshake_bundle_fields(&bundle) });
        out.push(
            entry(variant, &UpdateRequest { bundle }, fields)?
                .with_note("the body is exactly the HandshakeBundle (the room's protocol is not on the wire)"),
        );
    }

    let responses = [
        ("success", 0, "", UpdateRoomOutcome::Success { accepted_timestamp: ACCEPTED }),
        (
            "wrongEpoch",
            1,
            "commit is for epoch 1, the room is at epoch 3",
            UpdateRoomOutcome::WrongEpoch { current_epoch: 3 },
        ),
        ("notAllowed", 2, "missing capability canAddParticipant", UpdateRoomOutcome::NotAllowed),
        (
            "invalidProposal",
            3,
            "proposal refers to an unknown leaf",
            UpdateRoomOutcome::InvalidProposal { invalid_proposals: m.proposal_refs.clone() },
        ),
    ];
    for (name, value, description, outcome) in responses {
        let mut fields = json!({ "responseCode": named(name, value), "errorDescription": description });
        match &outcome {
            UpdateRoomOutcome::Success { accepted_timestamp } => {
                fields["accepted_timestamp"] = json!(accepted_timestamp)
            }
            UpdateRoomOutcome::WrongEpoch { current_epoch } => fields["currentEpoch"] = json!(current_epoch),
            UpdateRoomOutcome::NotAllowed => {}
            UpdateRoomOutcome::InvalidProposal { invalid_proposals } => {
                fields["invalidProposals"] =
                    json!(invalid_proposals.iter().map(|r| hex(r.as_slice())).collect::<Vec<_>>())
            }
        }
        let response = UpdateRoomResponse { error_description: Utf8String::from(description), outcome };
        out.push(entry(name, &response, fields)?);
    }
    Ok(())
}

fn submit_and_franking(m: &MlsObjects, out: &mut Vec<Entry>) -> Result<(), Error> {
    let request = SubmitMessageRequest {
        protocol: Protocol::Mls10,
        app_message: m.application.clone(),
        sending_uri: IdentifierUri::new(ALICE),
    };
    let fields = json!({
        "protocol": named("mls10", 1),
        "appMessage": mls_message(&request.app_message),
        "sendingUri": uri(&request.sending_uri),
    });
    out.push(entry("PrivateMessage", &request, fields)?);

    let context = ServerFrankingContext {
        sender_uri: IdentifierUri::new(ALICE),
        room_uri: IdentifierUri::new(ROOM),
        accepted_timestamp: ACCEPTED,
    };
    out.push(entry("alice in clubhouse", &context, server_context_fields(&context))?);
    let aad = FrankAAD { franking_tag: FRANKING_TAG };
    out.push(entry("tag", &aad, json!({ "franking_tag": hex(&aad.franking_tag) }))?);
    let frank = Frank::issue(m.provider.crypto(), &m.hub_signer, CS, HUB_FRANKING_KEY, &FRANKING_TAG, context.clone())?;
    let tbs = FrankingIntegrityTBS {
        server_frank: frank.server_frank,
        franking_signature_ciphersuite: CS,
        context: context.clone(),
    };
    let tbs_fields = json!({
        "server_frank": hex(&tbs.server_frank),
        "franking_signature_ciphersuite": ciphersuite(CS),
        "context": server_context_fields(&context),
    });
    out.push(entry("signed part", &tbs, tbs_fields)?);
    out.push(entry("issued by the hub", &frank, frank_fields(&frank))?.with_note(format!(
        "server_frank = HMAC-SHA256(key {:?}, franking_tag || ServerFrankingContext); signed by the hub's key",
        String::from_utf8_lossy(HUB_FRANKING_KEY)
    )));
    let agent = FrankingAgentData { franking_signature_key: m.hub_key.clone(), credential: m.hub_credential.clone() };
    let agent_fields = json!({
        "franking_signature_key": signature_key(&agent.franking_signature_key),
        "credential": credential(&agent.credential),
    });
    out.push(entry("hub", &agent, agent_fields)?);

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
        let mut fields = json!({ "protocol": named("mls10", 1) });
        match &status {
            SubmitMessageStatus::Accepted { accepted_timestamp, frank } => {
                fields["statusCode"] = named("accepted", 0);
                fields["accepted_timestamp"] = json!(accepted_timestamp);
                fields["frank"] = frank.as_ref().map(frank_fields).unwrap_or(Json::Null);
            }
            SubmitMessageStatus::NotAllowed => fields["statusCode"] = named("notAllowed", 1),
            SubmitMessageStatus::EpochTooOld { current_epoch } => {
                fields["statusCode"] = named("epochTooOld", 2);
                fields["currentEpoch"] = json!(current_epoch);
            }
        }
        out.push(entry(variant, &SubmitMessageResponse { protocol: Protocol::Mls10, status }, fields)?);
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
        out.push(entry(variant, &fanout, fanout_fields(&fanout))?);
    }
    Ok(())
}

fn group_info(m: &MlsObjects, out: &mut Vec<Entry>) -> Result<(), Error> {
    let hub_sender = ExternalSender { signature_key: m.hub_key.clone(), credential: m.hub_credential.clone() };
    out.push(entry("hub", &hub_sender, external_sender_fields(&hub_sender))?);
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
        let tbs_fields = json!({
            "protocol": named("mls10", 1),
            "cipher_suite": ciphersuite(CS),
            "requestingSignatureKey": signature_key(&tbs.requesting_signature_key),
            "requestingCredential": credential(&tbs.requesting_credential),
            "groupInfoPublicKey": hex(tbs.group_info_public_key.as_slice()),
            "joiningCode": tbs.joining_code.as_ref().map(|c| hex(c.as_slice())).unwrap_or(Json::Null),
        });
        out.push(entry(variant, &tbs, tbs_fields)?);
        let fields = json!({
            "protocol": named("mls10", 1),
            "cipher_suite": ciphersuite(CS),
            "requestingSignatureKey": signature_key(&request.requesting_signature_key),
            "requestingCredential": credential(&request.requesting_credential),
            "groupInfoPublicKey": hex(request.group_info_public_key.as_slice()),
            "joiningCode": hex(request.joining_code.as_slice()),
            "signature": hex(request.signature.as_slice()),
        });
        out.push(entry(variant, &request, fields)?);
        requests.push(request);
    }

    let pending = PendingProposal { proposal: m.proposals[0].clone(), hub_accepted_time: ACCEPTED };
    let pending_fields = json!({ "proposal": mls_message(&pending.proposal), "hub_accepted_time": ACCEPTED });
    out.push(entry("Remove", &pending, pending_fields.clone())?);
    let tbe = GroupInfoRatchetTreeTBE {
        group_info: m.group_info.clone(),
        ratchet_tree_option: RatchetTreeOption::Full { ratchet_tree: m.ratchet_tree.clone() },
        pending_proposals: vec![pending],
    };
    let tbe_fields = json!({
        "groupInfo": opaque("GroupInfo", &tbe.group_info),
        "ratchetTreeOption": ratchet_tree_option_fields(&tbe.ratchet_tree_option),
        "pending_proposals": [pending_fields],
    });
    out.push(entry("full tree, one pending proposal", &tbe, tbe_fields)?);

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
    let success_fields = json!({
        "version": named("mls10", 1),
        "room_id": ROOM,
        "status": named("success", 1),
        "cipher_suite": ciphersuite(CS),
        "hub_sender": external_sender_fields(&hub_sender),
        "encrypted_groupinfo_and_tree": hpke_ciphertext(&success.encrypted_groupinfo_and_tree),
    });
    out.push(entry("success", &tbs, success_fields.clone())?);
    let mut fields = success_fields;
    fields["signature"] = hex(success.signature.as_slice());
    out.push(entry("success", &response, fields)?.with_note(format!(
        "encrypted to the request's groupInfoPublicKey (HPKE private key {}), context = room_id; \
         plaintext = the GroupInfoRatchetTreeTBE entry above",
        hex::encode(&*m.group_info_keys.private)
    )));
    for (variant, value, status) in
        [("notAuthorized", 2, GroupInfoStatus::NotAuthorized), ("noSuchRoom", 3, GroupInfoStatus::NoSuchRoom)]
    {
        let response = GroupInfoResponse { version: Protocol::Mls10, room_id: ROOM.as_bytes().into(), status };
        let fields = json!({ "version": named("mls10", 1), "room_id": ROOM, "status": named(variant, value) });
        out.push(entry(variant, &response, fields)?);
    }
    Ok(())
}

fn consent_identifier_abuse(m: &MlsObjects, out: &mut Vec<Entry>) -> Result<(), Error> {
    let scope = |room: bool| ConsentScope {
        requester_uri: IdentifierUri::new(ALICE),
        target_uri: IdentifierUri::new(BOB),
        room_id: room.then(|| IdentifierUri::new(ROOM)),
    };
    let scope_fields = |s: &ConsentScope| {
        json!({
            "requesterUri": uri(&s.requester_uri),
            "targetUri": uri(&s.target_uri),
            "roomId": s.room_id.as_ref().map(uri).unwrap_or(Json::Null),
        })
    };
    for (variant, room) in [("any room", false), ("one room", true)] {
        let s = scope(room);
        out.push(entry(variant, &s, scope_fields(&s))?);
    }
    let mut extensions = AppDataDictionary::new();
    // A private-range component, to show a non-empty consent_extensions.
    let _ = extensions.insert(0x8001, b"example".to_vec());
    let entries = [
        ("cancel", 0, Consent::Cancel, scope(false), AppDataDictionary::new()),
        ("request", 1, Consent::Request, scope(true), AppDataDictionary::new()),
        ("grant", 2, Consent::Grant { client_key_packages: vec![m.key_package.clone()] }, scope(true), extensions),
        ("revoke", 3, Consent::Revoke, scope(false), AppDataDictionary::new()),
    ];
    for (variant, value, consent, scope, consent_extensions) in entries {
        let mut fields = json!({ "consentOperation": named(variant, value) });
        if let Some(map) = scope_fields(&scope).as_object() {
            for (k, v) in map {
                fields[k] = v.clone();
            }
        }
        if let Consent::Grant { client_key_packages } = &consent {
            fields["clientKeyPackages"] =
                json!(client_key_packages.iter().map(render::key_package).collect::<Vec<_>>());
        }
        fields["consent_extensions"] = dictionary(&consent_extensions);
        out.push(entry(variant, &ConsentEntry { consent, scope, consent_extensions }, fields)?);
    }

    let search_fields = |q: &QueryElement| {
        let (name, value, extra) = match &q.search {
            SearchField::Handle => ("handle", 1, None),
            SearchField::Nick => ("nick", 2, None),
            SearchField::Email => ("email", 3, None),
            SearchField::Phone => ("phone", 4, None),
            SearchField::PartialName => ("partialName", 5, None),
            SearchField::WholeProfile => ("wholeProfile", 6, None),
            SearchField::OidcStdClaim { claim_name } => ("oidcStdClaim", 7, Some(("claimName", claim_name))),
            SearchField::VcardField { property_name } => ("vcardField", 8, Some(("propertyName", property_name))),
        };
        let mut f = json!({ "searchType": named(name, value) });
        if let Some((key, bytes)) = extra {
            f[key] = json!(String::from_utf8_lossy(bytes.as_slice()));
        }
        f["searchValue"] = json!(q.search_value.as_str());
        f
    };
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
        let f = search_fields(q);
        let variant = f["searchType"].as_str().unwrap_or_default().split('(').next().unwrap_or_default().to_owned();
        out.push(entry(&variant, q, f)?);
    }
    let request =
        IdentifierRequest { query_elements: queries[6..].to_vec(), id_request_extensions: AppDataDictionary::new() };
    let fields = json!({
        "query_elements": request.query_elements.iter().map(search_fields).collect::<Vec<_>>(),
        "id_request_extensions": [],
    });
    out.push(entry("two elements (AND)", &request, fields)?);

    let field = ProfileField {
        field_source: FieldSource::OidcStdClaim,
        field_name: Utf8String::from("given_name"),
        field_value: b"Bob".to_vec().into(),
    };
    let field_fields = |f: &ProfileField| {
        let source = match f.field_source {
            FieldSource::OidcStdClaim => named("oidcStdClaim", 7),
            FieldSource::VcardField => named("vcardField", 8),
        };
        json!({ "fieldSource": source, "fieldName": f.field_name.as_str(), "fieldValue": hex(f.field_value.as_slice()) })
    };
    out.push(entry("oidcStdClaim", &field, field_fields(&field))?);
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
    let profile_fields = |p: &UserProfile| json!({ "stableUri": uri(&p.stable_uri), "fields": p.fields.iter().map(field_fields).collect::<Vec<_>>() });
    out.push(entry("two fields", &profile, profile_fields(&profile))?);
    let codes = [
        (IdentifierQueryCode::Success, "success", 0),
        (IdentifierQueryCode::NotFound, "notFound", 1),
        (IdentifierQueryCode::Ambiguous, "ambiguous", 2),
        (IdentifierQueryCode::Forbidden, "forbidden", 3),
        (IdentifierQueryCode::UnsupportedField, "unsupportedField", 4),
    ];
    for (code, name, value) in codes {
        let found = code == IdentifierQueryCode::Success;
        let response = IdentifierResponse {
            response_code: code,
            uri: if found { vec![IdentifierUri::new(BOB)] } else { vec![] },
            found_profiles: if found { vec![profile.clone()] } else { vec![] },
            id_response_extensions: AppDataDictionary::new(),
        };
        let fields = json!({
            "responseCode": named(name, value),
            "uri": response.uri.iter().map(uri).collect::<Vec<_>>(),
            "foundProfiles": response.found_profiles.iter().map(profile_fields).collect::<Vec<_>>(),
            "id_response_extensions": [],
        });
        out.push(entry(name, &response, fields)?);
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
    let abusive_fields = json!({
        "message_content": hex(abusive.message_content.as_slice()),
        "frank": frank_fields(&abusive.frank),
        "accepted_timestamp": ACCEPTED,
    });
    out.push(entry("one message", &abusive, abusive_fields.clone())?);
    let report = AbuseReport {
        reporting_user: IdentifierUri::new(ALICE),
        alleged_abuser_uri: IdentifierUri::new(BOB),
        reason_code: AbuseType(0),
        note: Utf8String::from("spam"),
        messages: vec![abusive],
        abuse_extensions: AppDataDictionary::new(),
    };
    let fields = json!({
        "reportingUser": uri(&report.reporting_user),
        "allegedAbuserUri": uri(&report.alleged_abuser_uri),
        "reasonCode": named("reserved", 0),
        "note": report.note.as_str(),
        "messages": [abusive_fields],
        "abuse_extensions": [],
    });
    out.push(entry("one message", &report, fields)?.with_note("no AbuseType is assigned yet; 0 is carried as is"));
    Ok(())
}
