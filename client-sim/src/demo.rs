//! The multi-provider demo (`mimi-sim demo`): the protocol-06 §3 story across
//! three providers, printed as a readable transcript.
//!
//! [`run_demo`] starts `a.example` (the hub of the room), `b.example` and `c.example` in-process
//! on loopback ([`LocalProvider::start_federation`]: one development CA generated on the fly,
//! embedded redb stores, mutual TLS between them, `[peers]` naming each other's ports), and
//! drives simulated clients ([`Client`]) that only ever talk to their own provider:
//!
//! 1. Alice@a creates the room at a.example, which makes a.example its hub.
//! 2. Alice adds Bob@b: his KeyPackage is claimed a → b, the commit is sequenced at a, the
//!    Welcome is routed to b only.
//! 3. Bob adds Cathy@c through the hub: claim b → a → c, commit relayed b → a, fanout to b and c.
//! 4. Cathy sends a message: relayed c → a, sequenced, fanned out to b and c (c drops the echo).
//! 5. Bob leaves: his leave proposals are relayed b → a, Alice commits them. (If the hub
//!    refused them, Alice removes Bob instead and the transcript says so.)
//! 6. Cathy adds a device by external commit: the GroupInfo request is relayed c → a, the hub
//!    answers with the GroupInfo signed by its external-sender key (checked by the client
//!    against the room's `external_senders`), and the external commit is relayed c → a. A
//!    refusal is printed as such, with the hub's reason, and the story goes on without it.
//! 7. The new device sends; then the final check: every client in the room agrees on the epoch,
//!    epoch authenticator, members, participants and transcript
//!    ([`check_agreement_across_providers`]), and Bob's transcript is what was sent before he
//!    left.
//!
//! Each step prints who sent what to whom with the provider hops (client → its provider → hub
//! → followers), the hub's decision (accepted, or refused with the outcome; lost commit races
//! are shown as the `wrongEpoch` refusals they were), and each member's epoch and epoch
//! authenticator afterwards. The hops are the protocol's: a client's only connection is to its
//! own provider, so what reaches a client of another provider went through the hub's
//! `/notify`.

use std::path::Path;
use std::time::{Duration, Instant};

use mimi_appsync::ops::LeaveVia;
use mimi_appsync::presets::{self, administered_roles::GROUP_ADMIN};
use mimi_client::{Client, ClientError, CommitReport};
use mimi_content::render::{summary, Capabilities};
use mimi_content::MimiContent;

use crate::checker::check_agreement_across_providers;
use crate::error::DemoError;
use crate::local::LocalProvider;

/// The three providers: the hub first.
pub const DEMO_DOMAINS: [&str; 3] = ["a.example", "b.example", "c.example"];

/// How long a client waits for the hub's fanout in one step.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// How the external join of Cathy's new device went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalJoin {
    /// Joined at this epoch.
    Joined(u64),
    /// The hub (or the client's checks) refused it, for this reason.
    Refused(String),
}

/// How Bob got out of the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BobLeft {
    /// He proposed leaving (relayed b → a) and Alice committed the proposals.
    Left,
    /// The hub refused his leave proposals; Alice removed him.
    Removed,
}

/// What a successful demo run produced.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// The transcript, line by line.
    pub lines: Vec<String>,
    /// The room.
    pub room: String,
    /// The room's epoch at the end.
    pub final_epoch: u64,
    /// How Bob got out.
    pub bob: BobLeft,
    /// How Cathy's external join went.
    pub external_join: ExternalJoin,
    /// The clients that agreed at the end.
    pub agreeing: usize,
    /// Wall time of the whole run (providers included).
    pub elapsed: Duration,
}

/// Runs the demo with everything (certificates, stores) under `dir`; prints each transcript
/// line as it happens if `echo`. The providers are stopped at the end, also on failure.
pub async fn run_demo(dir: &Path, echo: bool) -> Result<DemoReport, DemoError> {
    let started = Instant::now();
    let providers = LocalProvider::start_federation(dir, &DEMO_DOMAINS).await?;
    let mut demo = Demo { lines: Vec::new(), echo };
    let result = demo.story(&providers).await;
    let mut stopped = Ok(());
    for p in providers {
        if let Err(e) = p.stop().await {
            stopped = Err(e);
        }
    }
    let (room, final_epoch, bob, external_join, agreeing) = result?;
    stopped?;
    demo.say(format!("done in {:.2?}", started.elapsed()));
    Ok(DemoReport { lines: demo.lines, room, final_epoch, bob, external_join, agreeing, elapsed: started.elapsed() })
}

/// `user/device@domain`, short for a client.
fn who(c: &Client) -> String {
    let uri = c.uri();
    format!("{}/{}@{}", uri.user().name(), uri.device(), uri.domain())
}

/// A readable one-line rendering of a MIMI content message.
fn text_of(content: &[u8]) -> String {
    match MimiContent::decode(content) {
        Ok(m) => format!("\"{}\"", summary(&m, &Capabilities::required(), 60)),
        Err(e) => format!("(undecodable content: {e})"),
    }
}

/// A short prefix of an epoch authenticator.
fn short(bytes: &[u8]) -> String {
    hex::encode(&bytes[..bytes.len().min(8)])
}

fn epoch_is(room: &str, epoch: u64) -> impl Fn(&Client) -> bool + '_ {
    move |c| c.epoch(room).is_ok_and(|e| e == epoch)
}

fn transcript_len(room: &str, n: usize) -> impl Fn(&Client) -> bool + '_ {
    move |c| c.transcript(room).is_ok_and(|t| t.len() == n)
}

/// The transcript being written.
struct Demo {
    lines: Vec<String>,
    echo: bool,
}

/// The error of a failed step.
fn at(step: &str) -> impl FnOnce(ClientError) -> DemoError + '_ {
    move |e| DemoError::Step { step: step.to_owned(), source: Box::new(e) }
}

impl Demo {
    fn say(&mut self, line: impl Into<String>) {
        let line = line.into();
        if self.echo {
            println!("{line}");
        }
        self.lines.push(line);
    }

    /// Prints the hub's decision on a commit: lost races, then the acceptance.
    fn commit_decision(&mut self, hub: &str, report: &CommitReport) {
        for lost in &report.lost {
            self.say(format!(
                "    hub {hub}: refused wrongEpoch (built on epoch {}, room at {}); rebuilt and resubmitted",
                lost.built_on, lost.current_epoch
            ));
        }
        self.say(format!("    hub {hub}: accepted commit on epoch {} -> epoch {}", report.epoch, report.epoch + 1));
    }

    /// Prints each client's epoch and epoch authenticator.
    fn epochs(&mut self, room: &str, clients: &[&Client]) {
        for c in clients {
            let line = match (c.epoch(room), c.epoch_authenticator(room), c.members(room)) {
                (Ok(e), Ok(a), Ok(m)) => {
                    format!("      {:<28} epoch {e}, authenticator {}…, {} member(s)", who(c), short(&a), m.len())
                }
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => format!("      {:<28} {e}", who(c)),
            };
            self.say(line);
        }
    }

    /// Checks agreement among `clients` after a step.
    fn agree(&mut self, room: &str, clients: &[&Client]) -> Result<(), DemoError> {
        check_agreement_across_providers(room, clients).map_err(|f| DemoError::Disagree(Box::new(f)))?;
        self.say(format!("    {} clients agree", clients.len()));
        Ok(())
    }

    /// The story (module docs). Returns the room, final epoch, how Bob left, how the external
    /// join went, and how many clients agreed at the end.
    async fn story(
        &mut self,
        providers: &[LocalProvider],
    ) -> Result<(String, u64, BobLeft, ExternalJoin, usize), DemoError> {
        let [a, b, c] = providers else {
            return Err(DemoError::Unexpected { step: "start".into(), why: "expected three providers".into() });
        };
        let (hub, bd, cd) = (a.domain().to_owned(), b.domain().to_owned(), c.domain().to_owned());
        self.say("MIMI protocol-06 §3 across three providers (loopback, mutual TLS, dev CA made for this run)");
        for p in providers {
            let peers: Vec<String> = p.config().peers.iter().map(|(d, u)| format!("{d}={u}")).collect();
            self.say(format!("  {:<10} https://{}  peers: {}", p.domain(), p.addr(), peers.join(", ")));
        }

        let step = "register";
        let conns = providers.iter().map(LocalProvider::connect).collect::<Result<Vec<_>, _>>().map_err(at(step))?;
        let mut alice = Client::register(&conns[0], "alice", "phone").await.map_err(at(step))?;
        let mut bob = Client::register(&conns[1], "bob", "phone").await.map_err(at(step))?;
        let mut cathy = Client::register(&conns[2], "cathy", "phone").await.map_err(at(step))?;
        for client in [&alice, &bob, &cathy] {
            client.upload_key_packages(2).await.map_err(at(step))?;
            self.say(format!("  {} registered at its provider, 2 KeyPackages uploaded", who(client)));
        }

        // 1. The room.
        let step = "1. Alice creates the room";
        self.say(format!("\n[{step}]"));
        let room = alice.create_room("demo", &presets::cooperative(), GROUP_ADMIN).await.map_err(at(step))?;
        self.say(format!(
            "  {} -> {hub}: create {room} (GroupInfo of epoch 0, hub key in external_senders)",
            who(&alice)
        ));
        self.say(format!("    {hub} is the room's hub; Alice is groupAdmin under the cooperative policy"));
        self.epochs(&room, &[&alice]);

        // 2. Alice adds Bob.
        let step = "2. Alice adds Bob";
        self.say(format!("\n[{step}]"));
        self.say(format!("  {} -> {hub} (hub) -> {bd}: keyMaterial for bob (one KeyPackage per client)", who(&alice)));
        let report = alice.invite_user(&room, &bob.uri().user(), GROUP_ADMIN).await.map_err(at(step))?;
        self.say(format!("  {} -> {hub} (hub): commit adding bob/phone + participant-list update", who(&alice)));
        self.commit_decision(&hub, &report);
        alice.sync_until(&room, "epoch 1", STEP_TIMEOUT, epoch_is(&room, 1)).await.map_err(at(step))?;
        bob.await_welcome(&room, STEP_TIMEOUT).await.map_err(at(step))?;
        self.say(format!("  {hub} -> {bd}: /notify commit + Welcome (routed to {bd} only: it served the KeyPackage)"));
        self.say(format!("  {bd} -> {}: Welcome; joined at epoch {}", who(&bob), bob.epoch(&room).map_err(at(step))?));
        self.epochs(&room, &[&alice, &bob]);
        self.agree(&room, &[&alice, &bob])?;

        // 3. Bob adds Cathy through the hub.
        let step = "3. Bob adds Cathy through the hub";
        self.say(format!("\n[{step}]"));
        self.say(format!("  {} -> {bd} -> {hub} (hub) -> {cd}: keyMaterial for cathy", who(&bob)));
        let report = bob.invite_user(&room, &cathy.uri().user(), GROUP_ADMIN).await.map_err(at(step))?;
        self.say(format!("  {} -> {bd} -> {hub} (hub): commit adding cathy/phone (relayed by {bd})", who(&bob)));
        self.commit_decision(&hub, &report);
        bob.sync_until(&room, "own commit at epoch 2", STEP_TIMEOUT, epoch_is(&room, 2)).await.map_err(at(step))?;
        alice.sync_until(&room, "epoch 2", STEP_TIMEOUT, epoch_is(&room, 2)).await.map_err(at(step))?;
        cathy.await_welcome(&room, STEP_TIMEOUT).await.map_err(at(step))?;
        self.say(format!(
            "  {hub} -> {bd}: /notify commit (echo to bob/phone dropped by {bd}); alice reads it at {hub}"
        ));
        self.say(format!("  {hub} -> {cd}: /notify Welcome; {cd} -> {}: joined at epoch 2", who(&cathy)));
        self.epochs(&room, &[&alice, &bob, &cathy]);
        self.agree(&room, &[&alice, &bob, &cathy])?;

        // 4. Cathy sends.
        let step = "4. Cathy sends a message";
        self.say(format!("\n[{step}]"));
        cathy.send_text(&room, "Hello from c.example!").await.map_err(at(step))?;
        self.say(format!("  {} -> {cd} -> {hub} (hub): submitMessage (PrivateMessage, epoch 2)", who(&cathy)));
        self.say(format!("    hub {hub}: accepted (sequenced; the hub never sees the plaintext)"));
        for client in [&mut alice, &mut bob, &mut cathy] {
            client
                .sync_until(&room, "Cathy's message", STEP_TIMEOUT, transcript_len(&room, 1))
                .await
                .map_err(at(step))?;
        }
        self.say(format!("  {hub} -> {bd}, {cd}: /notify; {cd} drops the echo to cathy/phone"));
        for client in [&alice, &bob] {
            let got = client.transcript(&room).map_err(at(step))?[0].clone();
            let via = client.uri().domain();
            self.say(format!("  {via} -> {}: {} from {}", who(client), text_of(&got.content), got.sender));
        }
        self.agree(&room, &[&alice, &bob, &cathy])?;

        // 5. Bob leaves.
        let step = "5. Bob leaves";
        self.say(format!("\n[{step}]"));
        let bob_left = match bob.leave(&room, LeaveVia::Remove).await {
            Ok(()) => {
                self.say(format!(
                    "  {} -> {bd} -> {hub} (hub): leave proposals (participant-list removal + Remove of own leaf)",
                    who(&bob)
                ));
                self.say(format!("    hub {hub}: accepted proposals (fanned out; committed by another member)"));
                let report = alice.key_update(&room).await.map_err(at(step))?;
                self.say(format!("  {} -> {hub} (hub): commit of Bob's proposals", who(&alice)));
                self.commit_decision(&hub, &report);
                BobLeft::Left
            }
            Err(ClientError::Refused { outcome, .. }) => {
                self.say(format!("  {} -> {bd} -> {hub} (hub): leave proposals", who(&bob)));
                self.say(format!("    hub {hub}: REFUSED {outcome}; Alice removes Bob instead"));
                let report = alice.remove_user(&room, &bob.uri().user()).await.map_err(at(step))?;
                self.say(format!("  {} -> {hub} (hub): commit removing bob and bob/phone", who(&alice)));
                self.commit_decision(&hub, &report);
                BobLeft::Removed
            }
            Err(e) => return Err(at(step)(e)),
        };
        alice.sync_until(&room, "epoch 3", STEP_TIMEOUT, epoch_is(&room, 3)).await.map_err(at(step))?;
        cathy.sync_until(&room, "epoch 3", STEP_TIMEOUT, epoch_is(&room, 3)).await.map_err(at(step))?;
        bob.sync_until(&room, "his removal", STEP_TIMEOUT, |c| !c.is_member(&room)).await.map_err(at(step))?;
        self.say(format!("  {hub} -> {bd}, {cd}: /notify commit; {} is no longer a member", who(&bob)));
        self.epochs(&room, &[&alice, &cathy]);
        self.agree(&room, &[&alice, &cathy])?;

        // 6. Cathy adds a device by external commit.
        let step = "6. Cathy adds a device by external commit";
        self.say(format!("\n[{step}]"));
        let mut laptop = Client::register(&conns[2], "cathy", "laptop").await.map_err(at(step))?;
        self.say(format!("  {} registered at {cd}", who(&laptop)));
        let external_join = match laptop.join_external(&room).await {
            Ok(epoch) => {
                self.say(format!(
                    "  {} -> {cd} -> {hub} (hub): groupInfo request (signed, with an HPKE key)",
                    who(&laptop)
                ));
                self.say(format!(
                    "    hub {hub}: answered success: GroupInfo + tree encrypted to the device, signed by hub_sender"
                ));
                self.say("    client: hub_sender is the key in the room's external_senders: trusted");
                self.say(format!("  {} -> {cd} -> {hub} (hub): external commit on epoch 3", who(&laptop)));
                self.say(format!("    hub {hub}: accepted external commit -> epoch {epoch}"));
                for client in [&mut alice, &mut cathy] {
                    client
                        .sync_until(&room, "the external commit", STEP_TIMEOUT, epoch_is(&room, epoch))
                        .await
                        .map_err(at(step))?;
                }
                self.say(format!(
                    "  {hub} -> {cd}: /notify commit (echo to cathy/laptop dropped); alice reads it at {hub}"
                ));
                self.epochs(&room, &[&alice, &cathy, &laptop]);
                self.agree(&room, &[&alice, &cathy, &laptop])?;
                ExternalJoin::Joined(epoch)
            }
            Err(e @ (ClientError::Refused { .. } | ClientError::Protocol { .. })) => {
                self.say(format!("  {} -> {cd} -> {hub} (hub): groupInfo / external commit", who(&laptop)));
                self.say(format!("    REFUSED: {e}"));
                self.say("    (the external join did not happen; the story continues without the new device)");
                ExternalJoin::Refused(e.to_string())
            }
            Err(e) => return Err(at(step)(e)),
        };

        // 7. The new device talks, then the final check.
        let mut members: Vec<&mut Client> = vec![&mut alice, &mut cathy];
        if matches!(external_join, ExternalJoin::Joined(_)) {
            let step = "7. Cathy's new device sends";
            self.say(format!("\n[{step}]"));
            laptop.send_text(&room, "Now on my laptop too.").await.map_err(at(step))?;
            self.say(format!("  {} -> {cd} -> {hub} (hub): submitMessage", who(&laptop)));
            self.say(format!("    hub {hub}: accepted"));
            let sender = laptop.uri().clone();
            members.push(&mut laptop);
            let last_from =
                |c: &Client| c.transcript(&room).is_ok_and(|t| t.last().is_some_and(|d| d.sender == sender));
            for client in members.iter_mut() {
                client.sync_until(&room, "the laptop's message", STEP_TIMEOUT, last_from).await.map_err(at(step))?;
            }
            for client in members.iter().take(2) {
                let transcript = client.transcript(&room).map_err(at(step))?;
                let got = transcript[transcript.len() - 1].clone();
                let via = client.uri().domain();
                self.say(format!("  {via} -> {}: {} from {}", who(client), text_of(&got.content), got.sender));
            }
        }

        self.say("\n[final check: every client in the room agrees]");
        let members: Vec<&Client> = members.into_iter().map(|c| &*c).collect();
        for client in &members {
            let step = "final check";
            let participants = client.participants(&room).map_err(at(step))?;
            let participants: Vec<String> = participants.iter().map(|(u, r)| format!("{u} (role {r})")).collect();
            self.say(format!(
                "  {:<22} epoch {}  authenticator {}…  members {}  transcript {} message(s)  participants [{}]",
                who(client),
                client.epoch(&room).map_err(at(step))?,
                short(&client.epoch_authenticator(&room).map_err(at(step))?),
                client.members(&room).map_err(at(step))?.len(),
                client.transcript(&room).map_err(at(step))?.len(),
                participants.join(", ")
            ));
        }
        check_agreement_across_providers(&room, &members).map_err(|f| DemoError::Disagree(Box::new(f)))?;
        let sent_before_leaving = members[0].transcript(&room).map_err(at("final check"))?[..1].to_vec();
        let bobs: Vec<_> =
            bob.transcript(&room).map_err(at("final check"))?.iter().map(|d| (&d.sender, &d.content)).collect();
        let expected: Vec<_> = sent_before_leaving.iter().map(|d| (&d.sender, &d.content)).collect();
        if bobs != expected {
            return Err(DemoError::Unexpected {
                step: "final check".into(),
                why: format!(
                    "{} has {} message(s), expected exactly what was sent before he left",
                    who(&bob),
                    bobs.len()
                ),
            });
        }
        let epoch = members[0].epoch(&room).map_err(at("final check"))?;
        self.say(format!(
            "  OK: {} clients agree on epoch {epoch}, its authenticator, members, participants and transcript;",
            members.len()
        ));
        self.say(format!("      {} (out since epoch 3) has exactly the message sent while he was in", who(&bob)));
        let agreeing = members.len();
        Ok((room, epoch, bob_left, external_join, agreeing))
    }
}
