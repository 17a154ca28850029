//! Random client byte streams, built from frames a client could send and
//! frames it should not, fed to both readers.

use proptest::prelude::*;
use proptest::sample::Index;

use super::*;

/// Small, so streams reach the limit often.
const LIMIT: usize = 300;

/// How a frame writes its payload length.
#[derive(Debug, Clone, Copy)]
enum LenForm {
    Minimal,
    /// 16 bits even when 7 would do.
    Wide16,
    /// 64 bits even when fewer would do.
    Wide64,
    /// A 64-bit length with its top bit set.
    TopBit,
    /// A length larger than the payload that follows (the stream ends
    /// inside it, or the size limit refuses it).
    Declared(u64),
}

/// One frame as a client might write it, rules broken or not.
#[derive(Debug, Clone)]
struct RawFrame {
    opcode: u8,
    fin: bool,
    rsv: u8,
    masked: bool,
    mask: [u8; 4],
    len: LenForm,
    payload: Vec<u8>,
}

impl RawFrame {
    fn new(opcode: u8, fin: bool, payload: Vec<u8>, mask: [u8; 4]) -> RawFrame {
        RawFrame {
            opcode,
            fin,
            rsv: 0,
            masked: true,
            mask,
            len: LenForm::Minimal,
            payload,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.opcode | (self.rsv << 4) | if self.fin { 0x80 } else { 0 });
        let mask_bit = if self.masked { 0x80 } else { 0 };
        let n = self.payload.len() as u64;
        let (code, ext): (u8, Vec<u8>) = match self.len {
            LenForm::Minimal if n < 126 => (n as u8, vec![]),
            LenForm::Minimal | LenForm::Wide16 if n <= 0xffff => {
                (126, (n as u16).to_be_bytes().to_vec())
            }
            LenForm::Minimal | LenForm::Wide16 | LenForm::Wide64 => (127, n.to_be_bytes().to_vec()),
            LenForm::TopBit => (127, (n | 1 << 63).to_be_bytes().to_vec()),
            LenForm::Declared(len) => match len {
                0..=125 => (len as u8, vec![]),
                126..=0xffff => (126, (len as u16).to_be_bytes().to_vec()),
                _ => (127, len.to_be_bytes().to_vec()),
            },
        };
        out.push(mask_bit | code);
        out.extend(ext);
        if self.masked {
            out.extend_from_slice(&self.mask);
            out.extend(
                self.payload
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ self.mask[i % 4]),
            );
        } else {
            out.extend_from_slice(&self.payload);
        }
    }
}

/// Rules a frame may break, each now and then.
fn mutate(frame: RawFrame) -> impl Strategy<Value = RawFrame> {
    let rsv = prop_oneof![30 => Just(0u8), 1 => 1u8..8];
    let unmasked = prop::bool::weighted(0.02);
    let flip_fin = prop::bool::weighted(0.02);
    let len = prop_oneof![
        60 => Just(LenForm::Minimal),
        1 => Just(LenForm::Wide16),
        1 => Just(LenForm::Wide64),
        1 => Just(LenForm::TopBit),
        1 => prop_oneof![
            Just(LIMIT as u64 + 1),
            Just(65_536u64),
            Just(1u64 << 40),
            Just(u64::MAX >> 1),
            0u64..400,
        ]
        .prop_map(LenForm::Declared),
    ];
    (rsv, unmasked, flip_fin, len).prop_map(move |(rsv, unmasked, flip_fin, len)| {
        let mut frame = frame.clone();
        frame.rsv = rsv;
        frame.masked = !unmasked;
        frame.fin ^= flip_fin;
        frame.len = len;
        frame
    })
}

/// Text, sometimes made invalid, sometimes around the size limit.
fn text_payload() -> impl Strategy<Value = Vec<u8>> {
    let valid = prop_oneof![
        4 => "\\PC{0,40}".prop_map(String::into_bytes),
        1 => "[a-zé€😀]{95,110}".prop_map(String::into_bytes),
        1 => Just(vec![]),
    ];
    let broken = (
        valid.clone(),
        any::<Index>(),
        prop::sample::select(vec![
            vec![0xff],
            vec![0xc0, 0xaf],
            vec![0x80],
            vec![0xed, 0xa0, 0x80],
            vec![0xf4, 0x90, 0x80, 0x80],
            vec![0xe2, 0x82],
        ]),
    )
        .prop_map(|(mut bytes, at, bad)| {
            let at = at.index(bytes.len() + 1);
            let at = (0..=at)
                .rev()
                .find(|&i| std::str::from_utf8(&bytes[..i]).is_ok())
                .unwrap_or(0);
            bytes.splice(at..at, bad);
            bytes
        });
    prop_oneof![8 => valid, 2 => broken]
}

fn binary_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), 0..60),
        1 => prop::collection::vec(any::<u8>(), 280..320),
    ]
}

/// A close frame's payload: empty, one byte, or a code and a reason.
fn close_payload() -> impl Strategy<Value = Vec<u8>> {
    let code = prop_oneof![
        prop::sample::select(vec![
            0u16, 999, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011,
            1012, 1013, 1014, 1015, 1016, 2999, 3000, 3999, 4000, 4999, 5000, 65535,
        ]),
        any::<u16>(),
    ];
    let reason = prop_oneof![
        4 => "\\PC{0,20}".prop_map(String::into_bytes),
        1 => "[a-z]{118,130}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop_oneof![
        1 => Just(vec![]),
        1 => any::<u8>().prop_map(|b| vec![b]),
        8 => (code, reason).prop_map(|(code, reason)| {
            let mut out = code.to_be_bytes().to_vec();
            out.extend(reason);
            out
        }),
    ]
}

fn control_frame() -> impl Strategy<Value = RawFrame> {
    let payload = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..20),
        1 => prop::collection::vec(any::<u8>(), 120..130),
    ];
    let ping_pong = (prop::sample::select(vec![0x9u8, 0xA]), payload).boxed();
    let close = (Just(0x8u8), close_payload()).boxed();
    (prop_oneof![6 => ping_pong, 1 => close], any::<[u8; 4]>())
        .prop_map(|((opcode, payload), mask)| RawFrame::new(opcode, true, payload, mask))
        .prop_flat_map(mutate)
}

/// A message cut into fragments at any byte (so characters split across
/// frames), with control frames between some of them.
fn message() -> impl Strategy<Value = Vec<RawFrame>> {
    let kind = prop_oneof![
        3 => text_payload().prop_map(|p| (0x1u8, p)),
        1 => binary_payload().prop_map(|p| (0x2u8, p)),
    ];
    (
        kind,
        prop::collection::vec(any::<Index>(), 0..4),
        prop::collection::vec(prop::option::weighted(0.3, control_frame()), 4),
        any::<[u8; 4]>(),
    )
        .prop_flat_map(|((opcode, payload), cuts, controls, mask)| {
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(payload.len() + 1)).collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut from = 0;
            for cut in cuts.into_iter().chain([payload.len()]) {
                pieces.push(payload[from..cut.max(from)].to_vec());
                from = cut.max(from);
            }
            let count = pieces.len();
            let fragments: Vec<_> = pieces
                .into_iter()
                .enumerate()
                .map(|(i, piece)| {
                    let op = if i == 0 { opcode } else { 0x0 };
                    mutate(RawFrame::new(op, i + 1 == count, piece, mask))
                })
                .collect();
            (fragments, Just(controls))
        })
        .prop_map(|(fragments, controls)| {
            let count = fragments.len();
            let mut frames = Vec::new();
            for (i, fragment) in fragments.into_iter().enumerate() {
                frames.push(fragment);
                if i + 1 < count {
                    frames.extend(controls.get(i).cloned().flatten());
                }
            }
            frames
        })
}

/// A frame with any opcode, reserved ones included.
fn wild_frame() -> impl Strategy<Value = RawFrame> {
    (
        0u8..16,
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..40),
        any::<[u8; 4]>(),
    )
        .prop_map(|(opcode, fin, payload, mask)| RawFrame::new(opcode, fin, payload, mask))
        .prop_flat_map(mutate)
}

/// A whole client stream, maybe cut short, and the size of the pieces it
/// arrives in.
fn stream() -> impl Strategy<Value = (Vec<u8>, usize)> {
    let part = prop_oneof![
        6 => message(),
        2 => control_frame().prop_map(|f| vec![f]),
        1 => wild_frame().prop_map(|f| vec![f]),
    ];
    (
        prop::collection::vec(part, 1..6),
        prop::option::weighted(0.15, any::<Index>()),
        prop_oneof![Just(usize::MAX), 1usize..9, 9usize..200],
    )
        .prop_map(|(parts, cut, chunk)| {
            let mut bytes = Vec::new();
            for frame in parts.iter().flatten() {
                frame.encode(&mut bytes);
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            (bytes, chunk)
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    /// The core check: the project's reader decides every stream as
    /// tungstenite does, however the bytes are split.
    #[test]
    fn both_readers_decide_every_stream_alike((bytes, chunk) in stream()) {
        if let Err(divergence) = compare(&bytes, LIMIT, chunk) {
            prop_assert!(false, "{divergence:#?}\nstream: {bytes:02x?}");
        }
    }
}

fn masked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    RawFrame::new(opcode, fin, payload.to_vec(), [0x9a, 0x01, 0x5c, 0xe3]).encode(&mut out);
    out
}

fn stream_of(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

/// Runs one stream through both readers and returns the project's outcome,
/// failing if they differ.
fn agreed(bytes: &[u8]) -> Outcome {
    if let Err(divergence) = compare(bytes, LIMIT, usize::MAX) {
        panic!("{divergence:#?}");
    }
    project(bytes, LIMIT, usize::MAX)
}

#[test]
fn well_formed_traffic_is_accepted_by_both() {
    let bytes = stream_of(&[
        masked(0x1, false, "pré".as_bytes()),
        masked(0x9, true, b"hi"),
        masked(0x0, true, "fix".as_bytes()),
        masked(0x2, true, &[0, 1, 2]),
        masked(0xA, true, b""),
        masked(0x8, true, &[0x03, 0xe8, b'o', b'k']),
    ]);
    let outcome = agreed(&bytes);
    assert_eq!(
        outcome,
        Outcome {
            seen: vec![
                Seen::Ping(b"hi".to_vec()),
                Seen::Text("préfix".into()),
                Seen::Binary(vec![0, 1, 2]),
                Seen::Pong,
            ],
            end: End::Closed(Some(1000)),
        }
    );
    assert_eq!(tungstenite(&bytes, LIMIT), outcome);
}

/// Divergences the property test found, fixed in the frame reader.
#[test]
fn divergences_found_stay_fixed() {
    // Text that cannot become UTF-8 fails at its first fragment (it used
    // to wait for the last one, so a later rule decided the close code).
    let bytes = stream_of(&[masked(0x1, false, &[b'a', 0xff]), vec![0x81, 0x01, b'x']]);
    assert_eq!(agreed(&bytes).end, End::Refused(1007));
    // ... but a character split across fragments is fine.
    let euro = "€".as_bytes();
    let bytes = stream_of(&[
        masked(0x1, false, &euro[..1]),
        masked(0x0, true, &euro[1..]),
    ]);
    assert_eq!(agreed(&bytes).seen, vec![Seen::Text("€".into())]);
    // A close reason that is not UTF-8 is 1007 even with a refused code.
    let bytes = masked(0x8, true, &[0x03, 0xed, 0xff]);
    assert_eq!(agreed(&bytes).end, End::Refused(1007));
    // A new message inside a fragmented one is a framing error, even when
    // the two together would be over the size limit.
    let bytes = stream_of(&[
        masked(0x1, false, &[b'a'; 200]),
        masked(0x1, true, &[b'b'; 200]),
    ]);
    assert_eq!(agreed(&bytes).end, End::Refused(1002));
    // A frame over the limit is 1009 whatever else is wrong with it.
    let mut unmasked = vec![0x82, 126];
    unmasked.extend((LIMIT as u16 + 1).to_be_bytes());
    assert_eq!(agreed(&unmasked).end, End::Refused(1009));
    let mut big_ping = masked(0x9, true, &[0; LIMIT + 1]);
    big_ping.truncate(20);
    assert_eq!(agreed(&big_ping).end, End::Refused(1009));
}

#[test]
fn deliberate_differences_are_the_listed_ones() {
    // 1014 is a code a peer may send here, not for tungstenite.
    let bytes = masked(0x8, true, &1014u16.to_be_bytes());
    assert_eq!(agreed(&bytes).end, End::Closed(Some(1014)));
    assert_eq!(tungstenite(&bytes, LIMIT).end, End::Refused(1002));
    // A length not in its minimal form is refused here, not by tungstenite.
    let mut wide = Vec::new();
    RawFrame {
        len: LenForm::Wide16,
        ..RawFrame::new(0x1, true, b"hi".to_vec(), [1, 2, 3, 4])
    }
    .encode(&mut wide);
    assert_eq!(agreed(&wide).end, End::Refused(1002));
    assert_eq!(
        tungstenite(&wide, LIMIT).seen,
        vec![Seen::Text("hi".into())]
    );
    // A header breaking a rule is refused before its payload arrives.
    let mut early = masked(0x9, false, b"abcdef");
    early.truncate(8);
    assert_eq!(agreed(&early).end, End::Refused(1002));
    assert_eq!(tungstenite(&early, LIMIT).end, End::NeedMore);
}
