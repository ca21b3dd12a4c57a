//! Feeds arbitrary bytes to every decoder: tracker requests and replies,
//! line framing, and peer messages (with a layout so `have`/`data`
//! payloads are framed). Whatever decodes must re-encode and decode to the
//! same value.
#![no_main]

use common::protocol::frame::{next_line, pending_line};
use common::protocol::{Limits, PeerMessage, TrackerReply, TrackerRequest};
use common::{FileKey, Layout};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_line: 4096, max_items: 64, max_message: 4096 };
    let mut rest = data;
    while let Ok(Some((line, used))) = next_line(rest, limits.max_line) {
        if let Ok(r) = TrackerRequest::parse(line.text, &limits) {
            let mut out = Vec::new();
            r.write(&mut out).expect("write to Vec");
            let again = next_line(&out, usize::MAX).expect("canonical").expect("complete");
            assert_eq!(TrackerRequest::parse(again.0.text, &limits).as_ref(), Ok(&r));
        }
        if let Ok(r) = TrackerReply::parse(line.text, &limits) {
            let mut out = Vec::new();
            r.write(&mut out, Default::default()).expect("write to Vec");
            let again = next_line(&out, usize::MAX).expect("canonical").expect("complete");
            assert_eq!(TrackerReply::parse(again.0.text, &limits).as_ref(), Ok(&r));
        }
        rest = &rest[used..];
    }
    let _ = pending_line(rest);
    let layout = |_: &FileKey| Layout::new(100, 7).ok();
    let mut rest = data;
    while let Ok(Some((m, used))) = PeerMessage::decode(rest, &limits, &layout) {
        let mut out = Vec::new();
        m.write(&mut out).expect("write to Vec");
        let (again, _) = PeerMessage::decode(&out, &limits, &layout).expect("canonical").expect("complete");
        assert_eq!(again, m);
        rest = &rest[used.max(1)..];
    }
});
