//! The protocol-06 structures providers exchange, declared once with `tls_codec` derives (one module per
//! endpoint group), and how to decode them safely. See the module list; framing and limits are explained
//! in [`Body`] and in each module.

mod codec;
pub mod directory;
mod error;
pub mod franking;
pub mod group_info;
pub mod key_material;
pub mod labeled;
pub mod mls_message;
pub mod notify;
mod primitives;
pub mod ratchet_tree;
pub mod submit;
pub mod update;

pub use codec::{decode_concatenation, encode_concatenation, Body};
pub use error::WireError;
pub use primitives::{IdentifierUri, Protocol, Utf8String};
