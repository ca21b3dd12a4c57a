//! Feeds arbitrary bytes to the distributed ("LAN") mode's decoders: the
//! whole input as one discovery datagram, then as one neighbour line and
//! split into lines, with the default limits and small ones. Whatever
//! decodes must re-encode and decode to the same value.
#![no_main]

use common::protocol::frame::next_line;
use common::protocol::lan::MAX_DATAGRAM;
use common::protocol::{Discovery, LanMessage, Limits};
use libfuzzer_sys::fuzz_target;

/// Re-parses the canonical form of `m`. The line bound is lifted: the
/// canonical form may be a little longer than what was read (a lone
/// criterion gains brackets), which is not a round-trip failure.
fn round_trip(m: &LanMessage, limits: &Limits) {
    let mut out = Vec::new();
    m.write(&mut out).expect("write to Vec");
    let (again, used) = next_line(&out, usize::MAX).expect("canonical").expect("complete");
    assert_eq!(used, out.len(), "one line");
    let relaxed = Limits { max_line: usize::MAX, ..*limits };
    assert_eq!(LanMessage::parse(again.text, &relaxed).as_ref(), Ok(m));
}

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = Discovery::parse(data) {
        let mut out = Vec::new();
        d.write(&mut out).expect("write to Vec");
        // Quoting a bare name, or `neighbor` becoming `neighbour`, may push
        // a datagram near the bound past it; below it, it must read back.
        if out.len() <= MAX_DATAGRAM {
            assert_eq!(Discovery::parse(&out).as_ref(), Ok(&d));
        }
    }
    let small = Limits { max_line: 4096, max_items: 64, max_message: 4096 };
    for limits in [Limits::default(), small] {
        if let Ok(m) = LanMessage::parse(data, &limits) {
            round_trip(&m, &limits);
        }
        let mut rest = data;
        while let Ok(Some((line, used))) = next_line(rest, limits.max_line) {
            if let Ok(m) = LanMessage::parse(line.text, &limits) {
                round_trip(&m, &limits);
            }
            rest = &rest[used..];
        }
    }
});
