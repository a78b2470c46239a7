//! What the fuzz targets of `delivery-service/fuzz` share with their seeding step
//! (`examples/seed.rs`): the decoders behind the `protocol` target's selector byte, and the framing
//! by which the `appdata` target turns bytes into a dictionary and a commit's AppDataUpdate proposals.
//! Keeping them here makes the seeds use exactly the selectors and framing the targets read.

pub mod appdata;
pub mod protocol;
