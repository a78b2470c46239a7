//! Writes the seed corpora of the fuzz targets into `corpus/<target>/` from the published vectors
//! (`interop/vectors/*.json`, each entry's `hex` being one wire structure) and from the presets and
//! builders of the libraries, with the selector byte each target expects (`mimi_ds_fuzz`).
//!
//! Run from `delivery-service/fuzz`: `cargo run --example seed` (stable is enough). Existing files of
//! the same name are overwritten; what libFuzzer added to the corpora is left alone.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use mimi_appsync::components::participant_list::ParticipantListData;
use mimi_appsync::components::preauth::{Claim, PreAuthData, PreAuthRoleEntry};
use mimi_appsync::components::room_metadata::RoomMetaData;
use mimi_appsync::components::{Component, PARTICIPANT_LIST, PREAUTH_LIST, ROLES_LIST, ROOM_METADATA};
use mimi_appsync::presets::{self, RoomPolicy};
use mimi_ds_fuzz::{appdata, protocol};
use mimi_protocol::client_api::{ClientQueue, KeyPackageUpload, RoomEntries, RoomEntry, WelcomeItem};
use mimi_protocol::directory::{encode_path_segment, Directory};
use mimi_protocol::franking::FrankAAD;
use mimi_protocol::key_material::{ClientKeyMaterial, ClientKeyMaterialStatus};
use mimi_protocol::notify::{FanoutFraming, FanoutMessage};
use mimi_protocol::{Body, IdentifierUri, DEFAULT_MAX_BODY_LEN};
use openmls::prelude::MlsMessageIn;
use serde_json::Value;
use tls_codec::{Deserialize, Serialize};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// A vector entry: `struct`, `variant`, the decoded `hex` and the whole entry.
struct Entry {
    structure: String,
    variant: String,
    bytes: Vec<u8>,
    json: Value,
}

fn vectors(dir: &Path, file: &str) -> Result<Vec<Entry>> {
    let text = fs::read_to_string(dir.join(file))?;
    let entries: Vec<Value> = serde_json::from_str(&text)?;
    entries
        .into_iter()
        .map(|json| {
            let field = |key: &str| json[key].as_str().unwrap_or_default().to_owned();
            Ok(Entry { structure: field("struct"), variant: field("variant"), bytes: hex::decode(field("hex"))?, json })
        })
        .collect()
}

fn hex_at(value: &Value) -> Result<Vec<u8>> {
    Ok(hex::decode(value.as_str().ok_or("expected a hex string")?)?)
}

/// Writes seeds of one target; names are made file-system safe and numbered.
struct Corpus {
    dir: PathBuf,
    count: usize,
}

impl Corpus {
    fn new(root: &Path, target: &str) -> Result<Self> {
        let dir = root.join(target);
        fs::create_dir_all(&dir)?;
        Ok(Self { dir, count: 0 })
    }

    fn write(&mut self, name: &str, selector: Option<u8>, bytes: &[u8]) -> Result<()> {
        let safe: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(60).collect();
        let mut data = Vec::with_capacity(bytes.len() + 1);
        data.extend(selector);
        data.extend_from_slice(bytes);
        fs::write(self.dir.join(format!("seed-{:03}-{safe}", self.count)), data)?;
        self.count += 1;
        Ok(())
    }
}

fn preset(name: &str) -> RoomPolicy {
    match name.split(' ').next().unwrap_or_default() {
        "strictly" => presets::strictly_administered(),
        "moderated" => presets::moderated(),
        "multi-organization" => presets::multi_organization(),
        "one-to-one" => presets::one_to_one(),
        _ => presets::cooperative(),
    }
}

fn main() -> Result<()> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let vector_dir = here.join("../../interop/vectors");
    let root = here.join("corpus");
    let wire = vectors(&vector_dir, "wire.json")?;

    // protocol: every wire.json entry under its structure's selector, plus the other decoders.
    let mut corpus = Corpus::new(&root, "protocol")?;
    for e in &wire {
        let selector = protocol::selector(&e.structure).ok_or_else(|| format!("no decoder for {}", e.structure))?;
        corpus.write(&format!("{}-{}", e.structure, e.variant), Some(selector), &e.bytes)?;
        if e.structure == "FrankAAD" {
            let aad = FrankAAD::tls_deserialize_exact(e.bytes.as_slice())?.authenticated_data()?;
            corpus.write("authenticated-data", protocol::selector("frank_aad"), &aad)?;
        }
    }
    let directory = Directory::ours("https://a.example:8443").to_json();
    corpus.write("directory", protocol::selector("directory"), directory.as_bytes())?;
    let segment = encode_path_segment("mimi://a.example/r/clubhouse");
    corpus.write("path-segment", protocol::selector("path segment"), segment.as_bytes())?;
    println!("protocol: {} seeds", corpus.count);

    // notify: each FanoutMessage alone, and all of them in one body.
    let mut corpus = Corpus::new(&root, "notify")?;
    let fanouts: Vec<&Entry> = wire.iter().filter(|e| e.structure == "FanoutMessage").collect();
    for e in &fanouts {
        corpus.write(&e.variant, None, &e.bytes)?;
    }
    corpus.write("all", None, &fanouts.iter().flat_map(|e| e.bytes.clone()).collect::<Vec<_>>())?;
    println!("notify: {} seeds", corpus.count);

    // client_api: bodies built from the vectors' MLS objects.
    let mut corpus = Corpus::new(&root, "client_api")?;
    let messages: Vec<FanoutMessage> = fanouts
        .iter()
        .map(|e| FanoutMessage::decode(&e.bytes, DEFAULT_MAX_BODY_LEN))
        .collect::<std::result::Result<_, _>>()?;
    let mut key_packages = Vec::new();
    for e in wire.iter().filter(|e| e.structure == "ClientKeyMaterial") {
        if let ClientKeyMaterialStatus::Success { key_package } =
            ClientKeyMaterial::tls_deserialize_exact(e.bytes.as_slice())?.status
        {
            // An MLSMessage: version mls10, wire format mls_key_package, then the KeyPackage.
            let mut bytes = vec![0, 1, 0, 5];
            bytes.extend(key_package.tls_serialize_detached()?);
            key_packages.push(MlsMessageIn::tls_deserialize_exact(bytes.as_slice())?);
        }
    }
    corpus.write("key-packages", Some(0), &KeyPackageUpload { key_packages }.encode()?)?;
    corpus.write("no-key-packages", Some(0), &KeyPackageUpload { key_packages: vec![] }.encode()?)?;
    let entries = messages
        .iter()
        .enumerate()
        .map(|(i, fanout)| RoomEntry { seq: i as u64 + 1, epoch: 1, fanout: fanout.clone() })
        .collect();
    corpus.write("room-entries", Some(1), &RoomEntries { next_after: 7, entries }.encode()?)?;
    corpus.write("no-room-entries", Some(1), &RoomEntries { next_after: 0, entries: vec![] }.encode()?)?;
    let items = messages
        .iter()
        .filter_map(|m| match &m.framing {
            FanoutFraming::Welcome { ratchet_tree_option } => Some(WelcomeItem {
                seq: 1,
                room: IdentifierUri::new("mimi://a.example/r/clubhouse"),
                after_seq: 1,
                welcome: m.message.clone(),
                ratchet_tree_option: ratchet_tree_option.clone(),
            }),
            _ => None,
        })
        .collect();
    corpus.write("queue", Some(2), &ClientQueue { items }.encode()?)?;
    println!("client_api: {} seeds", corpus.count);

    // appdata: component values, commits and URIs from the participant-list and room-policy vectors
    // and the room presets.
    let mut corpus = Corpus::new(&root, "appdata")?;
    let selector = |id| appdata::component_selector(id);
    for e in vectors(&vector_dir, "participant_list.json")? {
        let before = hex_at(&e.json["fields"]["before"]["hex"])?;
        corpus.write(&format!("before-{}", e.variant), selector(PARTICIPANT_LIST), &before)?;
        if let Some(after) = e.json["fields"]["after"]["hex"].as_str() {
            corpus.write(&format!("after-{}", e.variant), selector(PARTICIPANT_LIST), &hex::decode(after)?)?;
        }
        let updates = e.json["fields"]["updates"].as_array().ok_or("updates")?;
        let proposals =
            updates.iter().map(|u| Ok((PARTICIPANT_LIST, Some(hex_at(&u["hex"])?)))).collect::<Result<Vec<_>>>()?;
        let commit = appdata::encode_commit(&[(PARTICIPANT_LIST, before)], &proposals).ok_or("commit framing")?;
        corpus.write(&format!("commit-{}", e.variant), Some(appdata::COMMIT), &commit)?;
    }
    for e in vectors(&vector_dir, "room_policy.json")? {
        let state = &e.json["fields"]["state"];
        let policy = preset(state["preset"].as_str().unwrap_or_default());
        let list = hex_at(&state["participant_list"]["hex"])?;
        let dictionary = vec![
            (PARTICIPANT_LIST, list),
            (ROLES_LIST, policy.roles.encode()?),
            (mimi_appsync::components::BASE_ROOM_POLICY, policy.base_policy.encode()?),
        ];
        let mut proposals = Vec::new();
        for p in e.json["fields"]["action"]["proposals"].as_array().ok_or("proposals")? {
            let id = match p["component_id"].as_str() {
                Some(c) if c.starts_with("participant_list") => PARTICIPANT_LIST,
                Some(c) if c.starts_with("room_metadata") => ROOM_METADATA,
                _ => continue,
            };
            proposals.push((id, Some(hex_at(&p["update"]["hex"])?)));
        }
        let commit = appdata::encode_commit(&dictionary, &proposals).ok_or("commit framing")?;
        corpus.write(&format!("policy-{}", e.variant), Some(appdata::COMMIT), &commit)?;
        for client in state["members"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            corpus.write("client", Some(appdata::CLIENT_URI), client.as_bytes())?;
        }
    }
    for (name, policy) in [
        ("cooperative", presets::cooperative()),
        ("strictly-administered", presets::strictly_administered()),
        ("moderated", presets::moderated()),
        ("multi-organization", presets::multi_organization()),
        ("one-to-one", presets::one_to_one()),
    ] {
        corpus.write(&format!("roles-{name}"), selector(ROLES_LIST), &policy.roles.encode()?)?;
        corpus.write(
            &format!("base-policy-{name}"),
            selector(mimi_appsync::components::BASE_ROOM_POLICY),
            &policy.base_policy.encode()?,
        )?;
        if let Some(role) = policy.roles.role(2) {
            let preauth = PreAuthData {
                preauthorized_entries: vec![PreAuthRoleEntry {
                    claimset: vec![Claim::basic("domain", "b.example")],
                    target_role: role.clone(),
                }],
            };
            corpus.write(&format!("preauth-{name}"), selector(PREAUTH_LIST), &preauth.encode()?)?;
        }
    }
    let metadata = RoomMetaData::named("mimi://a.example/r/clubhouse", "Clubhouse").encode()?;
    corpus.write("metadata", selector(ROOM_METADATA), &metadata)?;
    corpus.write("empty-list", selector(PARTICIPANT_LIST), &ParticipantListData::default().encode()?)?;
    corpus.write("user", Some(appdata::USER_URI), b"mimi://a.example/u/alice")?;
    println!("appdata: {} seeds", corpus.count);
    Ok(())
}
