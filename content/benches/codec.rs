//! Decode+validate and encode costs for a typical text message (the draft's "original", 193
//! bytes) and a 10-part multipart message. Goal: ≥ 1 million typical messages decoded and
//! validated per second on one core. Run: `cargo bench -p mimi-content --bench codec`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mimi_content::builder::{text_part, MessageBuilder, TextFormat};
use mimi_content::validate::{check_plausible, ReceiveContext};
use mimi_content::{Disposition, MimiContent, NestedPart, PartSemantics};

const ORIGINAL: &str = include_str!("../tests/vectors/original.hex");

fn multipart() -> MimiContent {
    let mut parts = vec![
        text_part(TextFormat::Markdown, "**Release 2.0** is out: see the notes below."),
        text_part(TextFormat::Html, "<p><b>Release 2.0</b> is out: see the notes below.</p>"),
    ];
    for i in 0..8 {
        parts.push(NestedPart::single(Disposition::Inline, "", "image/png", vec![i as u8; 64]));
    }
    MessageBuilder::new(NestedPart::multi(Disposition::Render, PartSemantics::ProcessAll, parts))
        .sender("mimi://example.com/u/alice-smith")
        .room("mimi://example.com/r/engineering_team")
        .build_with_salt([7; 16])
        .expect("valid")
}

fn bench(c: &mut Criterion) {
    let ctx = ReceiveContext::at(1_800_000_000);
    let text = hex::decode(ORIGINAL.trim()).expect("hex");
    let multi = multipart().encode().expect("encodes");
    for (name, bytes) in [("text", &text), ("multipart10", &multi)] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        g.bench_function("decode_validate", |b| {
            b.iter(|| {
                let m = MimiContent::decode(black_box(bytes)).expect("valid");
                check_plausible(&m, &ctx).expect("plausible");
                m
            })
        });
        let msg = MimiContent::decode(bytes).expect("valid");
        g.bench_function("encode", |b| b.iter(|| black_box(&msg).encode().expect("encodes")));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
