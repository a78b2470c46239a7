//! The JSON form of every protocol-06 structure: what `fields` of `wire.json` shows, what `mimi-interop
//! decode` prints and what `mimi-interop encode` reads back.
//!
//! [`Form::to_json`] renders a value with the conventions of [`render`](super::render) (draft field
//! names, bytes as hex, codes as `"name(value)"`, embedded MLS objects summarised with their encoding
//! under `"tls"`); the published vectors are that rendering without the `"tls"` keys
//! ([`render::published`]). [`Form::from_json`] rebuilds the value: codes are read from the number in
//! parentheses (the name is for reading), embedded MLS objects from their `"tls"`, text fields from
//! their string. Top-level bodies, nested structures and the bodies of our client API all have one.

use mimi_protocol::abuse::{AbuseReport, AbuseType, AbusiveMessage};
use mimi_protocol::client_api::{ClientQueue, KeyPackageUpload, RoomEntries, RoomEntry, WelcomeItem};
use mimi_protocol::consent::{Consent, ConsentEntry, ConsentScope};
use mimi_protocol::franking::{Frank, FrankAAD, FrankingAgentData, FrankingIntegrityTBS, ServerFrankingContext};
use mimi_protocol::group_info::{
    ExternalSender, GroupInfoCode, GroupInfoRatchetTreeTBE, GroupInfoRequest, GroupInfoRequestTBS, GroupInfoResponse,
    GroupInfoResponseTBS, GroupInfoStatus, GroupInfoSuccess, PendingProposal,
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
use mimi_protocol::{IdentifierUri, Protocol, Utf8String};
use openmls::extensions::AppDataDictionary;
use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::{
    Capabilities, Ciphersuite, CredentialType, Extension, ExtensionType, KeyPackageIn, MlsMessageIn, ProposalType,
    RatchetTreeIn, RequiredCapabilitiesExtension, SignaturePublicKey, VerifiableCiphersuite, Welcome,
};
use openmls_traits::types::HpkeCiphertext;
use serde_json::{json, Value as Json};
use tls_codec::{Deserialize, Serialize, VLBytes};

use super::render::{
    ciphersuite, credential, hex, key_package, lower_camel, mls_message, named, opaque, proposal_type, signature_key,
    snake_case, EMBEDDED,
};
use super::Vector;
use crate::Error;

/// A structure with a JSON form (see the module docs).
pub trait Form: Vector {
    /// The lossless JSON form.
    fn to_json(&self) -> Result<Json, Error>;

    /// Rebuilds the value from its JSON form.
    fn from_json(json: &At<'_>) -> Result<Self, Error>;
}

/// A position in a JSON form being read: errors name the structure and the JSON path.
#[derive(Debug, Clone)]
pub struct At<'a> {
    structure: &'static str,
    path: String,
    json: &'a Json,
}

impl<'a> At<'a> {
    /// The whole JSON form of `structure`.
    pub fn root(structure: &'static str, json: &'a Json) -> Self {
        At { structure, path: "$".to_owned(), json }
    }

    /// An error at this position.
    pub fn fail(&self, problem: impl Into<String>) -> Error {
        Error::Form { structure: self.structure.to_owned(), path: self.path.clone(), problem: problem.into() }
    }

    /// The member `key`, which must be present (it may be null).
    pub fn get(&self, key: &str) -> Result<At<'a>, Error> {
        match self.json.get(key) {
            Some(json) => Ok(At { structure: self.structure, path: format!("{}.{key}", self.path), json }),
            None => Err(self.fail(format!("missing member {key:?}"))),
        }
    }

    /// The member `key`, or `None` when it is absent or null.
    pub fn opt(&self, key: &str) -> Option<At<'a>> {
        self.get(key).ok().filter(|at| !at.json.is_null())
    }

    /// The JSON value here.
    pub fn json(&self) -> &'a Json {
        self.json
    }

    /// Whether the member `key` is present (even if null).
    pub fn has(&self, key: &str) -> bool {
        self.json.get(key).is_some()
    }

    /// The items of an array.
    pub fn items(&self) -> Result<Vec<At<'a>>, Error> {
        let items = self.json.as_array().ok_or_else(|| self.fail("expected an array"))?;
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, json)| At { structure: self.structure, path: format!("{}[{i}]", self.path), json })
            .collect())
    }

    /// Each item of an array read with `read`.
    pub fn list<T>(&self, read: impl Fn(&At<'a>) -> Result<T, Error>) -> Result<Vec<T>, Error> {
        self.items()?.iter().map(read).collect()
    }

    /// A string.
    pub fn str(&self) -> Result<&'a str, Error> {
        self.json.as_str().ok_or_else(|| self.fail("expected a string"))
    }

    /// A non-negative integer.
    pub fn u64(&self) -> Result<u64, Error> {
        self.json.as_u64().ok_or_else(|| self.fail("expected a non-negative integer"))
    }

    /// A non-negative integer of at most 32 bits.
    pub fn u32(&self) -> Result<u32, Error> {
        u32::try_from(self.u64()?).map_err(|_| self.fail("expected an integer below 2^32"))
    }

    /// Lowercase (or uppercase) hex.
    pub fn hex(&self) -> Result<Vec<u8>, Error> {
        hex::decode(self.str()?).map_err(|e| self.fail(format!("not hex: {e}")))
    }

    /// Hex of exactly `N` bytes.
    pub fn fixed<const N: usize>(&self) -> Result<[u8; N], Error> {
        let bytes = self.hex()?;
        bytes.try_into().map_err(|b: Vec<u8>| self.fail(format!("expected {N} bytes, found {}", b.len())))
    }

    /// Hex as a TLS `opaque<V>`.
    pub fn vl(&self) -> Result<VLBytes, Error> {
        Ok(self.hex()?.into())
    }

    /// A URI string.
    pub fn uri(&self) -> Result<IdentifierUri, Error> {
        Ok(IdentifierUri::new(self.str()?))
    }

    /// A UTF-8 string field.
    pub fn text(&self) -> Result<Utf8String, Error> {
        Ok(Utf8String::from(self.str()?))
    }

    /// The value of a code written `"name(value)"` (the last parenthesised number).
    pub fn code(&self) -> Result<u64, Error> {
        let text = self.str()?;
        let value = text.strip_suffix(')').and_then(|t| t.rsplit_once('(')).map(|(_, v)| v);
        value.and_then(|v| v.parse().ok()).ok_or_else(|| self.fail(format!("expected \"name(value)\", found {text:?}")))
    }

    /// A code of `width` bytes, decoded as `T` (so unknown values are refused as the decoder does).
    pub fn code_as<T: Deserialize>(&self, width: usize) -> Result<T, Error> {
        let value = self.code()?;
        if width < 8 && value >> (8 * width) != 0 {
            return Err(self.fail(format!("{value} does not fit in {width} byte(s)")));
        }
        let bytes = value.to_be_bytes()[8 - width..].to_vec();
        self.decode_exact(&bytes)
    }

    /// The object whose summary this is, from its encoding under `"tls"`.
    pub fn embedded<T: Deserialize>(&self) -> Result<T, Error> {
        let at = self.get(EMBEDDED)?;
        at.decode_exact(&at.hex()?)
    }

    /// A value decoded from hex holding exactly its encoding.
    pub fn tls<T: Deserialize>(&self) -> Result<T, Error> {
        self.decode_exact(&self.hex()?)
    }

    fn decode_exact<T: Deserialize>(&self, bytes: &[u8]) -> Result<T, Error> {
        T::tls_deserialize_exact(bytes).map_err(|e| self.fail(format!("does not decode: {e}")))
    }
}

/// A code as `"name(value)"`, its name from its `Debug` form in `case`, its value from its encoding.
fn code<T: Serialize + std::fmt::Debug>(value: &T, case: fn(&str) -> String) -> Json {
    let bytes = value.tls_serialize_detached().unwrap_or_default();
    let number = bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
    named(&case(&format!("{value:?}")), number)
}

fn uri(u: &IdentifierUri) -> Json {
    json!(u.as_str())
}

fn lossy(bytes: &[u8]) -> Json {
    json!(String::from_utf8_lossy(bytes))
}

fn protocol(_: &Protocol) -> Json {
    named("mls10", 1)
}

/// A value of a field whose bytes are shown as text (`room_id`, URLs, claim names).
fn text_bytes(at: &At<'_>) -> Result<VLBytes, Error> {
    Ok(at.str()?.as_bytes().to_vec().into())
}

fn cipher_suite(at: &At<'_>) -> Result<Ciphersuite, Error> {
    at.code_as(2)
}

fn signature_public_key(at: &At<'_>) -> Result<SignaturePublicKey, Error> {
    Ok(at.hex()?.into())
}

fn dictionary(d: &AppDataDictionary) -> Json {
    json!(d.entries().map(|e| json!({ "component_id": e.id(), "data": hex(e.data()) })).collect::<Vec<_>>())
}

fn dictionary_from(at: &At<'_>) -> Result<AppDataDictionary, Error> {
    let mut d = AppDataDictionary::new();
    for item in at.items()? {
        let id = item.get("component_id")?;
        let id = u16::try_from(id.u64()?).map_err(|_| id.fail("expected a 16-bit component id"))?;
        if d.insert(id, item.get("data")?.hex()?).is_some() {
            return Err(item.fail(format!("component {id} appears twice")));
        }
    }
    Ok(d)
}

fn verifiable_ciphersuite(cs: &VerifiableCiphersuite) -> Json {
    match Ciphersuite::try_from(*cs) {
        Ok(known) => ciphersuite(known),
        Err(_) if cs.is_grease() => named("GREASE", cs.value()),
        Err(_) => named("unknown", cs.value()),
    }
}

fn hpke_ciphertext(c: &HpkeCiphertext) -> Json {
    json!({ "kem_output": hex(c.kem_output.as_slice()), "ciphertext": hex(c.ciphertext.as_slice()) })
}

fn hpke_ciphertext_from(at: &At<'_>) -> Result<HpkeCiphertext, Error> {
    Ok(HpkeCiphertext { kem_output: at.get("kem_output")?.vl()?, ciphertext: at.get("ciphertext")?.vl()? })
}

fn messages(list: &[MlsMessageIn]) -> Json {
    json!(list.iter().map(mls_message).collect::<Vec<_>>())
}

fn messages_from(at: &At<'_>) -> Result<Vec<MlsMessageIn>, Error> {
    at.list(|m| m.embedded())
}

fn optional<T>(value: Option<&T>, render: impl Fn(&T) -> Json) -> Json {
    value.map(render).unwrap_or(Json::Null)
}

/// Copies the members of `from` (an object) into `into`.
fn merge(into: &mut Json, from: Json) {
    if let (Some(into), Json::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// Implements [`Form`] from a `to_json` and a `from_json` function each.
macro_rules! forms {
    ($($ty:ty => $to:ident, $from:ident;)*) => {
        $(
            impl Form for $ty {
                fn to_json(&self) -> Result<Json, Error> {
                    Ok($to(self))
                }

                fn from_json(at: &At<'_>) -> Result<Self, Error> {
                    $from(at)
                }
            }
        )*
    };
}

forms! {
    KeyMaterialRequestTBS => key_material_request_tbs, key_material_request_tbs_from;
    KeyMaterialRequest => key_material_request, key_material_request_from;
    ClientKeyMaterial => client_key_material, client_key_material_from;
    KeyMaterialResponse => key_material_response, key_material_response_from;
    PartialGroupInfo => partial_group_info, partial_group_info_from;
    GroupInfoOption => group_info_option, group_info_option_from;
    RatchetTreeOption => ratchet_tree_option, ratchet_tree_option_from;
    HandshakeBundle => handshake_bundle, handshake_bundle_from;
    UpdateRequest => update_request, update_request_from;
    UpdateRoomResponse => update_room_response, update_room_response_from;
    SubmitMessageRequest => submit_message_request, submit_message_request_from;
    SubmitMessageResponse => submit_message_response, submit_message_response_from;
    ServerFrankingContext => server_franking_context, server_franking_context_from;
    FrankAAD => frank_aad, frank_aad_from;
    FrankingIntegrityTBS => franking_integrity_tbs, franking_integrity_tbs_from;
    Frank => frank, frank_from;
    FrankingAgentData => franking_agent_data, franking_agent_data_from;
    FanoutMessage => fanout_message, fanout_message_from;
    ExternalSender => external_sender, external_sender_from;
    GroupInfoRequestTBS => group_info_request_tbs, group_info_request_tbs_from;
    GroupInfoRequest => group_info_request, group_info_request_from;
    PendingProposal => pending_proposal, pending_proposal_from;
    GroupInfoRatchetTreeTBE => group_info_ratchet_tree_tbe, group_info_ratchet_tree_tbe_from;
    GroupInfoResponseTBS => group_info_response_tbs, group_info_response_tbs_from;
    GroupInfoResponse => group_info_response, group_info_response_from;
    ConsentScope => consent_scope, consent_scope_from;
    ConsentEntry => consent_entry, consent_entry_from;
    QueryElement => query_element, query_element_from;
    IdentifierRequest => identifier_request, identifier_request_from;
    ProfileField => profile_field, profile_field_from;
    UserProfile => user_profile, user_profile_from;
    IdentifierResponse => identifier_response, identifier_response_from;
    AbusiveMessage => abusive_message, abusive_message_from;
    AbuseReport => abuse_report, abuse_report_from;
    KeyPackageUpload => key_package_upload, key_package_upload_from;
    RoomEntries => room_entries, room_entries_from;
    ClientQueue => client_queue, client_queue_from;
}

// §5.2 keyMaterial

fn key_material_request_tbs(t: &KeyMaterialRequestTBS) -> Json {
    let capabilities = &t.required_capabilities;
    json!({
        "protocol": protocol(&t.protocol),
        "requestingUser": uri(&t.requesting_user),
        "targetUser": uri(&t.target_user),
        "roomId": uri(&t.room_id),
        "acceptableCiphersuites": t.acceptable_ciphersuites.iter().map(verifiable_ciphersuite).collect::<Vec<_>>(),
        "requiredCapabilities": {
            "extension_types": capabilities.extension_types().iter()
                .map(|t| named(&snake_case(&format!("{t:?}")), u16::from(*t))).collect::<Vec<_>>(),
            "proposal_types": capabilities.proposal_types().iter().map(|t| proposal_type(*t)).collect::<Vec<_>>(),
            "credential_types": capabilities.credential_types().iter()
                .map(|t| named(&snake_case(&format!("{t:?}")), u16::from(*t))).collect::<Vec<_>>(),
        },
        "requesterSignatureKey": signature_key(&t.requester_signature_key),
        "requesterCredential": credential(&t.requester_credential),
    })
}

fn key_material_request_tbs_from(at: &At<'_>) -> Result<KeyMaterialRequestTBS, Error> {
    let capabilities = at.get("requiredCapabilities")?;
    let types = |key: &str| -> Result<Vec<u16>, Error> {
        capabilities.get(key)?.list(|t| u16::try_from(t.code()?).map_err(|_| t.fail("expected a 16-bit type")))
    };
    let extension_types: Vec<ExtensionType> = types("extension_types")?.into_iter().map(Into::into).collect();
    let proposal_types: Vec<ProposalType> = types("proposal_types")?.into_iter().map(Into::into).collect();
    let credential_types: Vec<CredentialType> = types("credential_types")?.into_iter().map(Into::into).collect();
    Ok(KeyMaterialRequestTBS {
        protocol: at.get("protocol")?.code_as(1)?,
        requesting_user: at.get("requestingUser")?.uri()?,
        target_user: at.get("targetUser")?.uri()?,
        room_id: at.get("roomId")?.uri()?,
        acceptable_ciphersuites: at.get("acceptableCiphersuites")?.list(|c| c.code_as(2))?,
        required_capabilities: RequiredCapabilitiesExtension::new(&extension_types, &proposal_types, &credential_types),
        requester_signature_key: signature_public_key(&at.get("requesterSignatureKey")?)?,
        requester_credential: at.get("requesterCredential")?.embedded()?,
    })
}

fn key_material_request(r: &KeyMaterialRequest) -> Json {
    let mut out = key_material_request_tbs(&r.tbs);
    out["key_material_request_signature"] = hex(r.key_material_request_signature.as_slice());
    out
}

fn key_material_request_from(at: &At<'_>) -> Result<KeyMaterialRequest, Error> {
    Ok(KeyMaterialRequest {
        tbs: key_material_request_tbs_from(at)?,
        key_material_request_signature: at.get("key_material_request_signature")?.vl()?,
    })
}

fn client_key_material(c: &ClientKeyMaterial) -> Json {
    let mut f = json!({ "clientUri": uri(&c.client_uri) });
    match &c.status {
        ClientKeyMaterialStatus::Success { key_package: kp } => {
            f["clientStatus"] = named("success", 0);
            f["keyPackage"] = key_package(kp);
        }
        ClientKeyMaterialStatus::KeyMaterialExhausted => f["clientStatus"] = named("keyMaterialExhausted", 1),
        ClientKeyMaterialStatus::NothingCompatible { client_capabilities } => {
            f["clientStatus"] = named("nothingCompatible", 2);
            f["clientCapabilities"] = optional(client_capabilities.as_ref(), |c| opaque("Capabilities", c));
        }
    }
    f
}

fn client_key_material_from(at: &At<'_>) -> Result<ClientKeyMaterial, Error> {
    let status_at = at.get("clientStatus")?;
    let status = match status_at.code()? {
        0 => ClientKeyMaterialStatus::Success { key_package: at.get("keyPackage")?.embedded::<KeyPackageIn>()? },
        1 => ClientKeyMaterialStatus::KeyMaterialExhausted,
        2 => ClientKeyMaterialStatus::NothingCompatible {
            client_capabilities: match at.opt("clientCapabilities") {
                Some(c) => Some(c.get("Capabilities")?.embedded::<Capabilities>()?),
                None => None,
            },
        },
        other => return Err(status_at.fail(format!("unknown KeyMaterialClientCode {other}"))),
    };
    Ok(ClientKeyMaterial { client_uri: at.get("clientUri")?.uri()?, status })
}

fn key_material_response(r: &KeyMaterialResponse) -> Json {
    json!({
        "protocol": protocol(&r.protocol),
        "userStatus": code(&r.user_status, lower_camel),
        "userUri": uri(&r.user_uri),
        "clients": r.clients.iter().map(client_key_material).collect::<Vec<_>>(),
    })
}

fn key_material_response_from(at: &At<'_>) -> Result<KeyMaterialResponse, Error> {
    Ok(KeyMaterialResponse {
        protocol: at.get("protocol")?.code_as(1)?,
        user_status: at.get("userStatus")?.code_as::<KeyMaterialUserCode>(1)?,
        user_uri: at.get("userUri")?.uri()?,
        clients: at.get("clients")?.list(client_key_material_from)?,
    })
}

// §5.3 update, ratchet-tree options

fn partial_group_info(p: &PartialGroupInfo) -> Json {
    let extensions = p.group_info_extensions.tls_serialize_detached().unwrap_or_default();
    let mut fields = json!({
        "ratchet_tree_presence": code(&p.ratchet_tree_presence, snake_case),
        "group_info_extensions": p.group_info_extensions.iter().map(|e| format!("{:?}", e.extension_type())).collect::<Vec<_>>(),
        "signature": hex(p.signature.as_slice()),
    });
    // The extension names above are a summary; this is the list's encoding.
    fields[format!("{EMBEDDED}_group_info_extensions")] = hex(&extensions);
    fields
}

fn partial_group_info_from(at: &At<'_>) -> Result<PartialGroupInfo, Error> {
    Ok(PartialGroupInfo {
        ratchet_tree_presence: at.get("ratchet_tree_presence")?.code_as::<RatchetTreePresence>(1)?,
        group_info_extensions: at.get(&format!("{EMBEDDED}_group_info_extensions"))?.tls::<Vec<Extension>>()?,
        signature: at.get("signature")?.vl()?,
    })
}

fn group_info_option(o: &GroupInfoOption) -> Json {
    match o {
        GroupInfoOption::Full { group_info } => {
            json!({ "representation": named("full", 1), "groupInfo": opaque("GroupInfo", group_info) })
        }
        GroupInfoOption::Partial { partial_group_info: p } => {
            json!({ "representation": named("partial", 2), "partialGroupInfo": partial_group_info(p) })
        }
    }
}

fn group_info_option_from(at: &At<'_>) -> Result<GroupInfoOption, Error> {
    let representation = at.get("representation")?;
    match representation.code()? {
        1 => Ok(GroupInfoOption::Full {
            group_info: at.get("groupInfo")?.get("GroupInfo")?.embedded::<VerifiableGroupInfo>()?,
        }),
        2 => {
            Ok(GroupInfoOption::Partial { partial_group_info: partial_group_info_from(&at.get("partialGroupInfo")?)? })
        }
        other => Err(representation.fail(format!("unknown GroupInfoRepresentation {other}"))),
    }
}

fn ratchet_tree_option(o: &RatchetTreeOption) -> Json {
    match o {
        RatchetTreeOption::Full { ratchet_tree } => {
            json!({ "representation": named("full", 1), "ratchet_tree": opaque("ratchet_tree", ratchet_tree) })
        }
        RatchetTreeOption::HttpsUri { ratchet_tree_url, tree_signature } => json!({
            "representation": named("httpsUri", 2),
            "ratchet_tree_url": lossy(ratchet_tree_url.as_slice()),
            "tree_signature": hex(tree_signature.as_slice()),
        }),
        RatchetTreeOption::OutOfBand { tree_signature } => {
            json!({ "representation": named("outOfBand", 3), "tree_signature": hex(tree_signature.as_slice()) })
        }
        RatchetTreeOption::DistributionService => json!({ "representation": named("distributionService", 4) }),
    }
}

fn ratchet_tree_option_from(at: &At<'_>) -> Result<RatchetTreeOption, Error> {
    let representation = at.get("representation")?;
    match representation.code()? {
        1 => Ok(RatchetTreeOption::Full {
            ratchet_tree: at.get("ratchet_tree")?.get("ratchet_tree")?.embedded::<RatchetTreeIn>()?,
        }),
        2 => Ok(RatchetTreeOption::HttpsUri {
            ratchet_tree_url: text_bytes(&at.get("ratchet_tree_url")?)?,
            tree_signature: at.get("tree_signature")?.vl()?,
        }),
        3 => Ok(RatchetTreeOption::OutOfBand { tree_signature: at.get("tree_signature")?.vl()? }),
        4 => Ok(RatchetTreeOption::DistributionService),
        other => Err(representation.fail(format!("unknown RatchetTreeRepresentation {other}"))),
    }
}

fn handshake_bundle(b: &HandshakeBundle) -> Json {
    let mut out = json!({ "proposalOrCommit": mls_message(&b.proposal_or_commit) });
    match &b.content {
        HandshakeBundleContent::Commit { welcome, group_info_option: g, ratchet_tree_option: r } => {
            out["welcome"] = optional(welcome.as_ref(), |w| opaque("Welcome", w));
            out["groupInfoOption"] = group_info_option(g);
            out["ratchetTreeOption"] = ratchet_tree_option(r);
        }
        HandshakeBundleContent::Proposal { more_proposals } => out["moreProposals"] = messages(more_proposals),
    }
    out
}

fn handshake_bundle_from(at: &At<'_>) -> Result<HandshakeBundle, Error> {
    let content = if at.has("moreProposals") {
        HandshakeBundleContent::Proposal { more_proposals: messages_from(&at.get("moreProposals")?)? }
    } else {
        HandshakeBundleContent::Commit {
            welcome: match at.opt("welcome") {
                Some(w) => Some(w.get("Welcome")?.embedded::<Welcome>()?),
                None => None,
            },
            group_info_option: group_info_option_from(&at.get("groupInfoOption")?)?,
            ratchet_tree_option: ratchet_tree_option_from(&at.get("ratchetTreeOption")?)?,
        }
    };
    Ok(HandshakeBundle { proposal_or_commit: at.get("proposalOrCommit")?.embedded()?, content })
}

fn update_request(r: &UpdateRequest) -> Json {
    json!({ "bundle": handshake_bundle(&r.bundle) })
}

fn update_request_from(at: &At<'_>) -> Result<UpdateRequest, Error> {
    Ok(UpdateRequest { bundle: handshake_bundle_from(&at.get("bundle")?)? })
}

fn update_room_response(r: &UpdateRoomResponse) -> Json {
    let (name, value) = match &r.outcome {
        UpdateRoomOutcome::Success { .. } => ("success", 0),
        UpdateRoomOutcome::WrongEpoch { .. } => ("wrongEpoch", 1),
        UpdateRoomOutcome::NotAllowed => ("notAllowed", 2),
        UpdateRoomOutcome::InvalidProposal { .. } => ("invalidProposal", 3),
    };
    let mut fields = json!({ "responseCode": named(name, value), "errorDescription": r.error_description.as_str() });
    match &r.outcome {
        UpdateRoomOutcome::Success { accepted_timestamp } => fields["accepted_timestamp"] = json!(accepted_timestamp),
        UpdateRoomOutcome::WrongEpoch { current_epoch } => fields["currentEpoch"] = json!(current_epoch),
        UpdateRoomOutcome::NotAllowed => {}
        UpdateRoomOutcome::InvalidProposal { invalid_proposals } => {
            fields["invalidProposals"] = json!(invalid_proposals.iter().map(|r| hex(r.as_slice())).collect::<Vec<_>>())
        }
    }
    fields
}

fn update_room_response_from(at: &At<'_>) -> Result<UpdateRoomResponse, Error> {
    let response_code = at.get("responseCode")?;
    let outcome = match response_code.code()? {
        0 => UpdateRoomOutcome::Success { accepted_timestamp: at.get("accepted_timestamp")?.u64()? },
        1 => UpdateRoomOutcome::WrongEpoch { current_epoch: at.get("currentEpoch")?.u64()? },
        2 => UpdateRoomOutcome::NotAllowed,
        3 => UpdateRoomOutcome::InvalidProposal {
            // A ProposalRef is an opaque<V> on the wire.
            invalid_proposals: at.get("invalidProposals")?.list(|r| {
                let bytes = VLBytes::from(r.hex()?).tls_serialize_detached().map_err(|e| r.fail(e.to_string()))?;
                r.decode_exact(&bytes)
            })?,
        },
        other => return Err(response_code.fail(format!("unknown UpdateResponseCode {other}"))),
    };
    Ok(UpdateRoomResponse { error_description: at.get("errorDescription")?.text()?, outcome })
}

// §5.4 submitMessage, franking

fn submit_message_request(r: &SubmitMessageRequest) -> Json {
    json!({
        "protocol": protocol(&r.protocol),
        "appMessage": mls_message(&r.app_message),
        "sendingUri": uri(&r.sending_uri),
    })
}

fn submit_message_request_from(at: &At<'_>) -> Result<SubmitMessageRequest, Error> {
    Ok(SubmitMessageRequest {
        protocol: at.get("protocol")?.code_as(1)?,
        app_message: at.get("appMessage")?.embedded()?,
        sending_uri: at.get("sendingUri")?.uri()?,
    })
}

fn submit_message_response(r: &SubmitMessageResponse) -> Json {
    let mut fields = json!({ "protocol": protocol(&r.protocol) });
    match &r.status {
        SubmitMessageStatus::Accepted { accepted_timestamp, frank: f } => {
            fields["statusCode"] = named("accepted", 0);
            fields["accepted_timestamp"] = json!(accepted_timestamp);
            fields["frank"] = optional(f.as_ref(), frank);
        }
        SubmitMessageStatus::NotAllowed => fields["statusCode"] = named("notAllowed", 1),
        SubmitMessageStatus::EpochTooOld { current_epoch } => {
            fields["statusCode"] = named("epochTooOld", 2);
            fields["currentEpoch"] = json!(current_epoch);
        }
    }
    fields
}

fn submit_message_response_from(at: &At<'_>) -> Result<SubmitMessageResponse, Error> {
    let status_code = at.get("statusCode")?;
    let status = match status_code.code()? {
        0 => SubmitMessageStatus::Accepted {
            accepted_timestamp: at.get("accepted_timestamp")?.u64()?,
            frank: at.opt("frank").map(|f| frank_from(&f)).transpose()?,
        },
        1 => SubmitMessageStatus::NotAllowed,
        2 => SubmitMessageStatus::EpochTooOld { current_epoch: at.get("currentEpoch")?.u64()? },
        other => return Err(status_code.fail(format!("unknown SubmitResponseCode {other}"))),
    };
    Ok(SubmitMessageResponse { protocol: at.get("protocol")?.code_as(1)?, status })
}

fn server_franking_context(c: &ServerFrankingContext) -> Json {
    json!({ "sender_uri": uri(&c.sender_uri), "room_uri": uri(&c.room_uri), "accepted_timestamp": c.accepted_timestamp })
}

fn server_franking_context_from(at: &At<'_>) -> Result<ServerFrankingContext, Error> {
    Ok(ServerFrankingContext {
        sender_uri: at.get("sender_uri")?.uri()?,
        room_uri: at.get("room_uri")?.uri()?,
        accepted_timestamp: at.get("accepted_timestamp")?.u64()?,
    })
}

fn frank_aad(a: &FrankAAD) -> Json {
    json!({ "franking_tag": hex(&a.franking_tag) })
}

fn frank_aad_from(at: &At<'_>) -> Result<FrankAAD, Error> {
    Ok(FrankAAD { franking_tag: at.get("franking_tag")?.fixed()? })
}

fn franking_integrity_tbs(t: &FrankingIntegrityTBS) -> Json {
    json!({
        "server_frank": hex(&t.server_frank),
        "franking_signature_ciphersuite": ciphersuite(t.franking_signature_ciphersuite),
        "context": server_franking_context(&t.context),
    })
}

fn franking_integrity_tbs_from(at: &At<'_>) -> Result<FrankingIntegrityTBS, Error> {
    Ok(FrankingIntegrityTBS {
        server_frank: at.get("server_frank")?.fixed()?,
        franking_signature_ciphersuite: cipher_suite(&at.get("franking_signature_ciphersuite")?)?,
        context: server_franking_context_from(&at.get("context")?)?,
    })
}

fn frank(f: &Frank) -> Json {
    json!({
        "server_frank": hex(&f.server_frank),
        "franking_signature_ciphersuite": ciphersuite(f.franking_signature_ciphersuite),
        "franking_integrity_signature": hex(f.franking_integrity_signature.as_slice()),
    })
}

fn frank_from(at: &At<'_>) -> Result<Frank, Error> {
    Ok(Frank {
        server_frank: at.get("server_frank")?.fixed()?,
        franking_signature_ciphersuite: cipher_suite(&at.get("franking_signature_ciphersuite")?)?,
        franking_integrity_signature: at.get("franking_integrity_signature")?.vl()?,
    })
}

fn franking_agent_data(a: &FrankingAgentData) -> Json {
    json!({
        "franking_signature_key": signature_key(&a.franking_signature_key),
        "credential": credential(&a.credential),
    })
}

fn franking_agent_data_from(at: &At<'_>) -> Result<FrankingAgentData, Error> {
    Ok(FrankingAgentData {
        franking_signature_key: signature_public_key(&at.get("franking_signature_key")?)?,
        credential: at.get("credential")?.embedded()?,
    })
}

// §5.5 notify

fn fanout_message(m: &FanoutMessage) -> Json {
    let mut out = json!({ "timestamp": m.timestamp, "message": mls_message(&m.message) });
    match &m.framing {
        FanoutFraming::Application { frank: f } => out["frank"] = optional(f.as_ref(), frank),
        FanoutFraming::Welcome { ratchet_tree_option: r } => out["ratchetTreeOption"] = ratchet_tree_option(r),
        FanoutFraming::Proposal { more_proposals } => out["moreProposals"] = messages(more_proposals),
        FanoutFraming::Commit { external_proposals } => out["externalProposals"] = messages(external_proposals),
    }
    out
}

fn fanout_message_from(at: &At<'_>) -> Result<FanoutMessage, Error> {
    let framing = if at.has("frank") {
        FanoutFraming::Application { frank: at.opt("frank").map(|f| frank_from(&f)).transpose()? }
    } else if at.has("ratchetTreeOption") {
        FanoutFraming::Welcome { ratchet_tree_option: ratchet_tree_option_from(&at.get("ratchetTreeOption")?)? }
    } else if at.has("moreProposals") {
        FanoutFraming::Proposal { more_proposals: messages_from(&at.get("moreProposals")?)? }
    } else if at.has("externalProposals") {
        FanoutFraming::Commit { external_proposals: messages_from(&at.get("externalProposals")?)? }
    } else {
        return Err(at.fail("no framing: expected frank, ratchetTreeOption, moreProposals or externalProposals"));
    };
    Ok(FanoutMessage { timestamp: at.get("timestamp")?.u64()?, message: at.get("message")?.embedded()?, framing })
}

// §5.6 groupInfo

fn external_sender(s: &ExternalSender) -> Json {
    json!({ "signature_key": signature_key(&s.signature_key), "credential": credential(&s.credential) })
}

fn external_sender_from(at: &At<'_>) -> Result<ExternalSender, Error> {
    Ok(ExternalSender {
        signature_key: signature_public_key(&at.get("signature_key")?)?,
        credential: at.get("credential")?.embedded()?,
    })
}

fn group_info_request_tbs(t: &GroupInfoRequestTBS) -> Json {
    json!({
        "protocol": protocol(&t.protocol),
        "cipher_suite": ciphersuite(t.cipher_suite),
        "requestingSignatureKey": signature_key(&t.requesting_signature_key),
        "requestingCredential": credential(&t.requesting_credential),
        "groupInfoPublicKey": hex(t.group_info_public_key.as_slice()),
        "joiningCode": optional(t.joining_code.as_ref(), |c| hex(c.as_slice())),
    })
}

fn group_info_request_tbs_from(at: &At<'_>) -> Result<GroupInfoRequestTBS, Error> {
    Ok(GroupInfoRequestTBS {
        protocol: at.get("protocol")?.code_as(1)?,
        cipher_suite: cipher_suite(&at.get("cipher_suite")?)?,
        requesting_signature_key: signature_public_key(&at.get("requestingSignatureKey")?)?,
        requesting_credential: at.get("requestingCredential")?.embedded()?,
        group_info_public_key: at.get("groupInfoPublicKey")?.vl()?,
        joining_code: at.opt("joiningCode").map(|c| c.vl()).transpose()?,
    })
}

fn group_info_request(r: &GroupInfoRequest) -> Json {
    json!({
        "protocol": protocol(&r.protocol),
        "cipher_suite": ciphersuite(r.cipher_suite),
        "requestingSignatureKey": signature_key(&r.requesting_signature_key),
        "requestingCredential": credential(&r.requesting_credential),
        "groupInfoPublicKey": hex(r.group_info_public_key.as_slice()),
        "joiningCode": hex(r.joining_code.as_slice()),
        "signature": hex(r.signature.as_slice()),
    })
}

fn group_info_request_from(at: &At<'_>) -> Result<GroupInfoRequest, Error> {
    Ok(GroupInfoRequest {
        protocol: at.get("protocol")?.code_as(1)?,
        cipher_suite: cipher_suite(&at.get("cipher_suite")?)?,
        requesting_signature_key: signature_public_key(&at.get("requestingSignatureKey")?)?,
        requesting_credential: at.get("requestingCredential")?.embedded()?,
        group_info_public_key: at.get("groupInfoPublicKey")?.vl()?,
        joining_code: at.get("joiningCode")?.vl()?,
        signature: at.get("signature")?.vl()?,
    })
}

fn pending_proposal(p: &PendingProposal) -> Json {
    json!({ "proposal": mls_message(&p.proposal), "hub_accepted_time": p.hub_accepted_time })
}

fn pending_proposal_from(at: &At<'_>) -> Result<PendingProposal, Error> {
    Ok(PendingProposal {
        proposal: at.get("proposal")?.embedded()?,
        hub_accepted_time: at.get("hub_accepted_time")?.u64()?,
    })
}

fn group_info_ratchet_tree_tbe(t: &GroupInfoRatchetTreeTBE) -> Json {
    json!({
        "groupInfo": opaque("GroupInfo", &t.group_info),
        "ratchetTreeOption": ratchet_tree_option(&t.ratchet_tree_option),
        "pending_proposals": t.pending_proposals.iter().map(pending_proposal).collect::<Vec<_>>(),
    })
}

fn group_info_ratchet_tree_tbe_from(at: &At<'_>) -> Result<GroupInfoRatchetTreeTBE, Error> {
    Ok(GroupInfoRatchetTreeTBE {
        group_info: at.get("groupInfo")?.get("GroupInfo")?.embedded()?,
        ratchet_tree_option: ratchet_tree_option_from(&at.get("ratchetTreeOption")?)?,
        pending_proposals: at.get("pending_proposals")?.list(pending_proposal_from)?,
    })
}

fn group_info_response_tbs(t: &GroupInfoResponseTBS) -> Json {
    json!({
        "version": protocol(&t.version),
        "room_id": lossy(t.room_id.as_slice()),
        "status": code(&t.status, lower_camel),
        "cipher_suite": ciphersuite(t.cipher_suite),
        "hub_sender": external_sender(&t.hub_sender),
        "encrypted_groupinfo_and_tree": hpke_ciphertext(&t.encrypted_groupinfo_and_tree),
    })
}

fn group_info_response_tbs_from(at: &At<'_>) -> Result<GroupInfoResponseTBS, Error> {
    Ok(GroupInfoResponseTBS {
        version: at.get("version")?.code_as(1)?,
        room_id: text_bytes(&at.get("room_id")?)?,
        status: at.get("status")?.code_as::<GroupInfoCode>(1)?,
        cipher_suite: cipher_suite(&at.get("cipher_suite")?)?,
        hub_sender: external_sender_from(&at.get("hub_sender")?)?,
        encrypted_groupinfo_and_tree: hpke_ciphertext_from(&at.get("encrypted_groupinfo_and_tree")?)?,
    })
}

fn group_info_response(r: &GroupInfoResponse) -> Json {
    let status = match &r.status {
        GroupInfoStatus::Success(_) => GroupInfoCode::Success,
        GroupInfoStatus::NotAuthorized => GroupInfoCode::NotAuthorized,
        GroupInfoStatus::NoSuchRoom => GroupInfoCode::NoSuchRoom,
    };
    let mut fields = json!({
        "version": protocol(&r.version),
        "room_id": lossy(r.room_id.as_slice()),
        "status": code(&status, lower_camel),
    });
    if let GroupInfoStatus::Success(s) = &r.status {
        merge(
            &mut fields,
            json!({
                "cipher_suite": ciphersuite(s.cipher_suite),
                "hub_sender": external_sender(&s.hub_sender),
                "encrypted_groupinfo_and_tree": hpke_ciphertext(&s.encrypted_groupinfo_and_tree),
                "signature": hex(s.signature.as_slice()),
            }),
        );
    }
    fields
}

fn group_info_response_from(at: &At<'_>) -> Result<GroupInfoResponse, Error> {
    let status = match at.get("status")?.code_as::<GroupInfoCode>(1)? {
        GroupInfoCode::Success => GroupInfoStatus::Success(GroupInfoSuccess {
            cipher_suite: cipher_suite(&at.get("cipher_suite")?)?,
            hub_sender: external_sender_from(&at.get("hub_sender")?)?,
            encrypted_groupinfo_and_tree: hpke_ciphertext_from(&at.get("encrypted_groupinfo_and_tree")?)?,
            signature: at.get("signature")?.vl()?,
        }),
        GroupInfoCode::NotAuthorized => GroupInfoStatus::NotAuthorized,
        GroupInfoCode::NoSuchRoom => GroupInfoStatus::NoSuchRoom,
    };
    Ok(GroupInfoResponse { version: at.get("version")?.code_as(1)?, room_id: text_bytes(&at.get("room_id")?)?, status })
}

// §5.7 consent

fn consent_scope(s: &ConsentScope) -> Json {
    json!({
        "requesterUri": uri(&s.requester_uri),
        "targetUri": uri(&s.target_uri),
        "roomId": optional(s.room_id.as_ref(), uri),
    })
}

fn consent_scope_from(at: &At<'_>) -> Result<ConsentScope, Error> {
    Ok(ConsentScope {
        requester_uri: at.get("requesterUri")?.uri()?,
        target_uri: at.get("targetUri")?.uri()?,
        room_id: at.opt("roomId").map(|r| r.uri()).transpose()?,
    })
}

fn consent_entry(e: &ConsentEntry) -> Json {
    let operation = match &e.consent {
        Consent::Cancel => named("cancel", 0),
        Consent::Request => named("request", 1),
        Consent::Grant { .. } => named("grant", 2),
        Consent::Revoke => named("revoke", 3),
    };
    let mut fields = json!({ "consentOperation": operation });
    merge(&mut fields, consent_scope(&e.scope));
    if let Consent::Grant { client_key_packages } = &e.consent {
        fields["clientKeyPackages"] = json!(client_key_packages.iter().map(key_package).collect::<Vec<_>>());
    }
    fields["consent_extensions"] = dictionary(&e.consent_extensions);
    fields
}

fn consent_entry_from(at: &At<'_>) -> Result<ConsentEntry, Error> {
    let operation = at.get("consentOperation")?;
    let consent = match operation.code()? {
        0 => Consent::Cancel,
        1 => Consent::Request,
        2 => Consent::Grant { client_key_packages: at.get("clientKeyPackages")?.list(|k| k.embedded())? },
        3 => Consent::Revoke,
        other => return Err(operation.fail(format!("unknown ConsentOperation {other}"))),
    };
    Ok(ConsentEntry {
        consent,
        scope: consent_scope_from(at)?,
        consent_extensions: dictionary_from(&at.get("consent_extensions")?)?,
    })
}

// §5.8 identifierQuery

fn query_element(q: &QueryElement) -> Json {
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
        f[key] = lossy(bytes.as_slice());
    }
    f["searchValue"] = json!(q.search_value.as_str());
    f
}

fn query_element_from(at: &At<'_>) -> Result<QueryElement, Error> {
    let search_type = at.get("searchType")?;
    let search = match search_type.code()? {
        1 => SearchField::Handle,
        2 => SearchField::Nick,
        3 => SearchField::Email,
        4 => SearchField::Phone,
        5 => SearchField::PartialName,
        6 => SearchField::WholeProfile,
        7 => SearchField::OidcStdClaim { claim_name: text_bytes(&at.get("claimName")?)? },
        8 => SearchField::VcardField { property_name: text_bytes(&at.get("propertyName")?)? },
        other => return Err(search_type.fail(format!("unknown SearchIdentifierType {other}"))),
    };
    Ok(QueryElement { search, search_value: at.get("searchValue")?.text()? })
}

fn identifier_request(r: &IdentifierRequest) -> Json {
    json!({
        "query_elements": r.query_elements.iter().map(query_element).collect::<Vec<_>>(),
        "id_request_extensions": dictionary(&r.id_request_extensions),
    })
}

fn identifier_request_from(at: &At<'_>) -> Result<IdentifierRequest, Error> {
    Ok(IdentifierRequest {
        query_elements: at.get("query_elements")?.list(query_element_from)?,
        id_request_extensions: dictionary_from(&at.get("id_request_extensions")?)?,
    })
}

fn profile_field(f: &ProfileField) -> Json {
    json!({
        "fieldSource": code(&f.field_source, lower_camel),
        "fieldName": f.field_name.as_str(),
        "fieldValue": hex(f.field_value.as_slice()),
    })
}

fn profile_field_from(at: &At<'_>) -> Result<ProfileField, Error> {
    Ok(ProfileField {
        field_source: at.get("fieldSource")?.code_as::<FieldSource>(1)?,
        field_name: at.get("fieldName")?.text()?,
        field_value: at.get("fieldValue")?.vl()?,
    })
}

fn user_profile(p: &UserProfile) -> Json {
    json!({ "stableUri": uri(&p.stable_uri), "fields": p.fields.iter().map(profile_field).collect::<Vec<_>>() })
}

fn user_profile_from(at: &At<'_>) -> Result<UserProfile, Error> {
    Ok(UserProfile { stable_uri: at.get("stableUri")?.uri()?, fields: at.get("fields")?.list(profile_field_from)? })
}

fn identifier_response(r: &IdentifierResponse) -> Json {
    json!({
        "responseCode": code(&r.response_code, lower_camel),
        "uri": r.uri.iter().map(uri).collect::<Vec<_>>(),
        "foundProfiles": r.found_profiles.iter().map(user_profile).collect::<Vec<_>>(),
        "id_response_extensions": dictionary(&r.id_response_extensions),
    })
}

fn identifier_response_from(at: &At<'_>) -> Result<IdentifierResponse, Error> {
    Ok(IdentifierResponse {
        response_code: at.get("responseCode")?.code_as::<IdentifierQueryCode>(1)?,
        uri: at.get("uri")?.list(|u| u.uri())?,
        found_profiles: at.get("foundProfiles")?.list(user_profile_from)?,
        id_response_extensions: dictionary_from(&at.get("id_response_extensions")?)?,
    })
}

// §5.9 reportAbuse

fn abusive_message(m: &AbusiveMessage) -> Json {
    json!({
        "message_content": hex(m.message_content.as_slice()),
        "frank": frank(&m.frank),
        "accepted_timestamp": m.accepted_timestamp,
    })
}

fn abusive_message_from(at: &At<'_>) -> Result<AbusiveMessage, Error> {
    Ok(AbusiveMessage {
        message_content: at.get("message_content")?.vl()?,
        frank: frank_from(&at.get("frank")?)?,
        accepted_timestamp: at.get("accepted_timestamp")?.u64()?,
    })
}

fn abuse_report(r: &AbuseReport) -> Json {
    // No AbuseType is assigned yet: 0 is reserved, anything else is shown by number.
    let reason = match r.reason_code.0 {
        0 => named("reserved", 0),
        other => named("unassigned", other),
    };
    json!({
        "reportingUser": uri(&r.reporting_user),
        "allegedAbuserUri": uri(&r.alleged_abuser_uri),
        "reasonCode": reason,
        "note": r.note.as_str(),
        "messages": r.messages.iter().map(abusive_message).collect::<Vec<_>>(),
        "abuse_extensions": dictionary(&r.abuse_extensions),
    })
}

fn abuse_report_from(at: &At<'_>) -> Result<AbuseReport, Error> {
    let reason = at.get("reasonCode")?;
    let reason_code = AbuseType(u8::try_from(reason.code()?).map_err(|_| reason.fail("expected an 8-bit code"))?);
    Ok(AbuseReport {
        reporting_user: at.get("reportingUser")?.uri()?,
        alleged_abuser_uri: at.get("allegedAbuserUri")?.uri()?,
        reason_code,
        note: at.get("note")?.text()?,
        messages: at.get("messages")?.list(abusive_message_from)?,
        abuse_extensions: dictionary_from(&at.get("abuse_extensions")?)?,
    })
}

// Our client API (`/client/v1/...`): field names are the Rust ones.

fn key_package_upload(u: &KeyPackageUpload) -> Json {
    json!({ "key_packages": messages(&u.key_packages) })
}

fn key_package_upload_from(at: &At<'_>) -> Result<KeyPackageUpload, Error> {
    Ok(KeyPackageUpload { key_packages: messages_from(&at.get("key_packages")?)? })
}

fn room_entries(r: &RoomEntries) -> Json {
    let entries =
        r.entries.iter().map(|e| json!({ "seq": e.seq, "epoch": e.epoch, "fanout": fanout_message(&e.fanout) }));
    json!({ "next_after": r.next_after, "entries": entries.collect::<Vec<_>>() })
}

fn room_entries_from(at: &At<'_>) -> Result<RoomEntries, Error> {
    Ok(RoomEntries {
        next_after: at.get("next_after")?.u64()?,
        entries: at.get("entries")?.list(|e| {
            Ok(RoomEntry {
                seq: e.get("seq")?.u64()?,
                epoch: e.get("epoch")?.u64()?,
                fanout: fanout_message_from(&e.get("fanout")?)?,
            })
        })?,
    })
}

fn client_queue(q: &ClientQueue) -> Json {
    let items = q.items.iter().map(|i| {
        json!({
            "seq": i.seq,
            "room": uri(&i.room),
            "after_seq": i.after_seq,
            "welcome": mls_message(&i.welcome),
            "ratchet_tree_option": ratchet_tree_option(&i.ratchet_tree_option),
        })
    });
    json!({ "items": items.collect::<Vec<_>>() })
}

fn client_queue_from(at: &At<'_>) -> Result<ClientQueue, Error> {
    Ok(ClientQueue {
        items: at.get("items")?.list(|i| {
            Ok(WelcomeItem {
                seq: i.get("seq")?.u64()?,
                room: i.get("room")?.uri()?,
                after_seq: i.get("after_seq")?.u64()?,
                welcome: i.get("welcome")?.embedded()?,
                ratchet_tree_option: ratchet_tree_option_from(&i.get("ratchet_tree_option")?)?,
            })
        })?,
    })
}
