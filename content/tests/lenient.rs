//! The lenient receive mode on hand-written byte strings: each non-deterministic encoding a peer's
//! CBOR library may produce is accepted by `decode_lenient` with the deviation listed at the byte
//! where it occurs, and refused by the strict decoder; the message ID is over the received bytes.

use mimi_content::{DecodeLimits, Deviation, DeviationKind, MessageId, MimiContent, Received, Violation};

/// The pieces of a deterministic message: `[salt, null, h'', null, null, {1: "a", 2: "b", "x": 1},
/// [1, "", 1, "text/plain", h'6869']]`. Tests replace one piece by a non-deterministic spelling.
const SALT: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

fn pieces() -> Vec<Vec<u8>> {
    let mut salt = vec![0x50];
    salt.extend_from_slice(&SALT);
    vec![
        vec![0x87],                            // 0: array(7)
        salt,                                  // 1: salt, h'00…0f'
        vec![0xf6, 0x40, 0xf6, 0xf6],          // 2: replaces, topicId, expires, inReplyTo
        vec![0xa3],                            // 3: map(3)
        vec![0x01, 0x61, b'a'],                // 4: 1: "a" (senderUri)
        vec![0x02, 0x61, b'b'],                // 5: 2: "b" (roomUri)
        vec![0x61, b'x', 0x01],                // 6: "x": 1
        vec![0x85],                            // 7: NestedPart array(5)
        vec![0x01],                            // 8: disposition render
        vec![0x60, 0x01],                      // 9: language "", cardinality single
        [&[0x6a][..], b"text/plain"].concat(), // 10: contentType
        vec![0x42, b'h', b'i'],                // 11: content h'6869'
    ]
}

/// The message with piece `index` replaced (and pieces appended at the end when `index` is the
/// array head of an indefinite array needing a break), and the offset of that piece.
fn with(replacements: &[(usize, &[u8])], trailer: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut parts = pieces();
    for (index, bytes) in replacements {
        parts[*index] = bytes.to_vec();
    }
    let mut offsets = Vec::new();
    let mut out = Vec::new();
    for part in &parts {
        offsets.push(out.len());
        out.extend_from_slice(part);
    }
    out.extend_from_slice(trailer);
    (out, offsets)
}

fn deterministic() -> Vec<u8> {
    with(&[], &[]).0
}

/// Lenient decoding gives the deterministic message back with exactly `expected` listed; strict
/// decoding refuses the input.
fn accepted_leniently(input: &[u8], expected: &[Deviation]) {
    let strict = MimiContent::decode(input);
    assert!(strict.is_err(), "strict mode must refuse {}", hex::encode(input));
    let lenient = MimiContent::decode_lenient(input, &DecodeLimits::default())
        .unwrap_or_else(|e| panic!("lenient mode must accept {}: {e}", hex::encode(input)));
    assert_eq!(lenient.deviations, expected);
    assert_eq!(lenient.canonical, deterministic());
    assert_eq!(lenient.content, MimiContent::decode(&deterministic()).unwrap());
}

fn at(offset: usize, kind: DeviationKind) -> Deviation {
    Deviation { offset, kind }
}

#[test]
fn the_base_message_is_deterministic_and_has_no_deviations() {
    let lenient = MimiContent::decode_lenient(&deterministic(), &DecodeLimits::default()).unwrap();
    assert!(lenient.deviations.is_empty());
    assert_eq!(lenient.canonical, deterministic());
    assert_eq!(lenient.content, MimiContent::decode(&deterministic()).unwrap());
}

#[test]
fn indefinite_length_array() {
    let (input, offsets) = with(&[(0, &[0x9f])], &[0xff]);
    accepted_leniently(&input, &[at(offsets[0], DeviationKind::IndefiniteLength { item: "array" })]);
}

#[test]
fn indefinite_length_map() {
    // The map's break goes right after its last entry (piece 6), before the NestedPart.
    let (input, offsets) = with(&[(3, &[0xbf]), (6, &[0x61, b'x', 0x01, 0xff])], &[]);
    accepted_leniently(&input, &[at(offsets[3], DeviationKind::IndefiniteLength { item: "map" })]);
}

#[test]
fn indefinite_length_byte_string_in_chunks() {
    let (input, offsets) = with(&[(11, &[0x5f, 0x41, b'h', 0x41, b'i', 0xff])], &[]);
    accepted_leniently(&input, &[at(offsets[11], DeviationKind::IndefiniteLength { item: "byte string" })]);
}

#[test]
fn indefinite_length_text_string_in_chunks() {
    let chunked = [&[0x7f, 0x64][..], b"text", &[0x66], b"/plain", &[0xff]].concat();
    let (input, offsets) = with(&[(10, &chunked)], &[]);
    accepted_leniently(&input, &[at(offsets[10], DeviationKind::IndefiniteLength { item: "text string" })]);
}

#[test]
fn non_shortest_integers() {
    // disposition 1 as a one-byte argument, extension value 1 as a four-byte argument
    let (input, offsets) = with(&[(8, &[0x18, 0x01]), (6, &[0x61, b'x', 0x1a, 0, 0, 0, 1])], &[]);
    accepted_leniently(
        &input,
        &[at(offsets[6] + 2, DeviationKind::NonShortestInteger), at(offsets[8], DeviationKind::NonShortestInteger)],
    );
}

#[test]
fn non_shortest_lengths() {
    let mut salt = vec![0x58, 16];
    salt.extend_from_slice(&SALT);
    // salt length in one extra byte, the NestedPart's item count in two
    let (input, offsets) = with(&[(1, &salt), (7, &[0x99, 0x00, 0x05])], &[]);
    accepted_leniently(
        &input,
        &[at(offsets[1], DeviationKind::NonShortestLength), at(offsets[7], DeviationKind::NonShortestLength)],
    );
}

#[test]
fn map_keys_in_insertion_order_text_before_integers() {
    let (input, offsets) = with(&[(4, &[0x61, b'x', 0x01]), (5, &[0x01, 0x61, b'a']), (6, &[0x02, 0x61, b'b'])], &[]);
    accepted_leniently(&input, &[at(offsets[3], DeviationKind::UnsortedMapKeys)]);
}

#[test]
fn every_kind_at_once_is_listed_in_input_order() {
    let mut salt = vec![0x58, 16];
    salt.extend_from_slice(&SALT);
    let (input, offsets) =
        with(&[(0, &[0x9f]), (1, &salt), (4, &[0x61, b'x', 0x01]), (6, &[0x01, 0x61, b'a'])], &[0xff]);
    accepted_leniently(
        &input,
        &[
            at(offsets[0], DeviationKind::IndefiniteLength { item: "array" }),
            at(offsets[1], DeviationKind::NonShortestLength),
            at(offsets[3], DeviationKind::UnsortedMapKeys),
        ],
    );
}

#[test]
fn what_lenient_mode_does_not_repair_is_still_refused() {
    let limits = DecodeLimits::default();
    // A duplicate key, even once the keys are sorted.
    let (input, _) = with(&[(6, &[0x01, 0x61, b'c'])], &[]);
    let e = MimiContent::decode_lenient(&input, &limits).unwrap_err();
    assert!(matches!(e.violation(), Violation::DuplicateKey(_) | Violation::UnsortedKey(_)), "{e}");
    // A float in a longer form than needed: 1.0 as a double.
    let (input, _) = with(&[(6, &[0x61, b'x', 0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0])], &[]);
    let e = MimiContent::decode_lenient(&input, &limits).unwrap_err();
    assert!(matches!(e.violation(), Violation::NonPreferredFloat(_)), "{e}");
    // Truncated input, a stray break, trailing bytes.
    let whole = deterministic();
    let e = MimiContent::decode_lenient(&whole[..whole.len() - 1], &limits).unwrap_err();
    assert!(matches!(e.violation(), Violation::LengthBeyondInput { .. } | Violation::Truncated { .. }), "{e}");
    let (input, _) = with(&[(8, &[0xff])], &[]);
    assert_eq!(MimiContent::decode_lenient(&input, &limits).unwrap_err().violation(), &Violation::IndefiniteLength);
    let (input, _) = with(&[], &[0x00]);
    assert!(matches!(
        MimiContent::decode_lenient(&input, &limits).unwrap_err().violation(),
        Violation::TrailingBytes { count: 1 }
    ));
}

#[test]
fn errors_name_the_offset_in_the_received_bytes() {
    let mut salt = vec![0x58, 16];
    salt.extend_from_slice(&SALT);
    // The salt's head is one byte longer than in the rewrite; the disposition is text, not uint.
    let (input, offsets) = with(&[(1, &salt), (8, &[0x61, b'r'])], &[]);
    let e = MimiContent::decode_lenient(&input, &DecodeLimits::default()).unwrap_err();
    assert!(matches!(e.violation(), Violation::WrongType { .. }), "{e}");
    let mimi_content::ContentError::Malformed { offset, .. } = e else { panic!("{e:?}") };
    assert_eq!(offset, offsets[8]);
}

#[test]
fn message_id_is_over_the_received_bytes() {
    let (input, _) = with(&[(0, &[0x9f]), (4, &[0x61, b'x', 0x01]), (6, &[0x01, 0x61, b'a'])], &[0xff]);
    let limits = DecodeLimits::default();
    let r = Received::decode_lenient(&input, None, None, &limits).unwrap();
    assert_eq!(r.received.id, MessageId::derive("a", "b", &input, &SALT).unwrap());
    let canonical = Received::decode(&deterministic(), None, None, &limits).unwrap();
    assert_ne!(r.received.id, canonical.id, "the rewrite must not be what is hashed");
    assert_eq!(r.canonical, deterministic());
    assert_eq!(r.received.content, canonical.content);
    // A deterministic input gets the same ID either way.
    let same = Received::decode_lenient(&deterministic(), None, None, &limits).unwrap();
    assert_eq!(same.received.id, canonical.id);
    assert!(same.deviations.is_empty());
}
