//! Every backend against `sha2::compress256` lane by lane, plus known answers.
//!
//! Unit tests rather than `tests/` so they can reach the portable fallback and the SHA-NI backend
//! directly, whatever the dispatcher would pick on the machine running them.

use proptest::prelude::*;

use super::*;

const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The reference: sha2's own single-stream compression, one lane at a time.
fn reference<const N: usize>(states: &[[u32; 8]; N], blocks: &[[u8; 64]; N]) -> [[u32; 8]; N] {
    let mut out = *states;
    for (state, block) in out.iter_mut().zip(blocks) {
        sha2::compress256(state, &[GenericArray::clone_from_slice(block)]);
    }
    out
}

/// The SHA-NI backend called directly, or `None` on a CPU without it.
fn ni_direct<const N: usize>(
    states: &[[u32; 8]; N],
    blocks: &[[u8; 64]; N],
) -> Option<[[u32; 8]; N]> {
    #[cfg(target_arch = "x86_64")]
    {
        let mut out = *states;
        if ni::one_pass(&mut out, blocks) {
            return Some(out);
        }
    }
    let _ = (states, blocks);
    None
}

fn lanes<T: Clone + std::fmt::Debug, const N: usize>(
    element: impl Strategy<Value = T>,
) -> impl Strategy<Value = [T; N]> {
    proptest::array::uniform::<_, N>(element)
}

fn state() -> impl Strategy<Value = [u32; 8]> {
    proptest::array::uniform::<_, 8>(any::<u32>())
}

fn block() -> impl Strategy<Value = [u8; 64]> {
    proptest::array::uniform::<_, 64>(any::<u8>())
}

/// Checks every path for `N` lanes against the reference.
fn check_all<const N: usize>(
    states: [[u32; 8]; N],
    blocks: [[u8; 64]; N],
    public: fn(&mut [[u32; 8]; N], &[[u8; 64]; N]),
) -> Result<(), TestCaseError> {
    let want = reference(&states, &blocks);

    let mut got = states;
    public(&mut got, &blocks);
    prop_assert_eq!(got, want, "public API");

    let mut got = states;
    compress_portable(&mut got, &blocks);
    prop_assert_eq!(got, want, "portable fallback");

    if let Some(got) = ni_direct(&states, &blocks) {
        prop_assert_eq!(got, want, "SHA-NI backend");
    }
    Ok(())
}

proptest! {
    #[test]
    fn x2_matches_sha2(states in lanes::<_, 2>(state()), blocks in lanes::<_, 2>(block())) {
        check_all(states, blocks, compress256_x2)?;
    }

    #[test]
    fn x4_matches_sha2(states in lanes::<_, 4>(state()), blocks in lanes::<_, 4>(block())) {
        check_all(states, blocks, compress256_x4)?;
    }

    #[test]
    fn x8_matches_sha2(states in lanes::<_, 8>(state()), blocks in lanes::<_, 8>(block())) {
        check_all(states, blocks, compress256_x8)?;
    }

    /// Lane counts no public function uses, to show the generic backend has no hidden 2/4/8
    /// assumption.
    #[test]
    fn odd_lane_counts_match_sha2(
        s1 in lanes::<_, 1>(state()), b1 in lanes::<_, 1>(block()),
        s3 in lanes::<_, 3>(state()), b3 in lanes::<_, 3>(block()),
        s5 in lanes::<_, 5>(state()), b5 in lanes::<_, 5>(block()),
    ) {
        if let Some(got) = ni_direct(&s1, &b1) {
            prop_assert_eq!(got, reference(&s1, &b1));
        }
        if let Some(got) = ni_direct(&s3, &b3) {
            prop_assert_eq!(got, reference(&s3, &b3));
        }
        if let Some(got) = ni_direct(&s5, &b5) {
            prop_assert_eq!(got, reference(&s5, &b5));
        }
    }

    /// Identical inputs in every lane must give identical outputs: catches a lane reading a
    /// neighbour's data only when the neighbours differ, so pair it with the random tests above.
    #[test]
    fn equal_lanes_stay_equal(s in state(), b in block()) {
        let mut states = [s; 8];
        compress256_x8(&mut states, &[b; 8]);
        let want = reference(&[s], &[b])[0];
        prop_assert!(states.iter().all(|got| *got == want));
    }
}

/// Word-major rows of sixteen lanes' states and blocks (big-endian words, as SHA-256 reads them).
fn to_rows(states: &[[u32; 8]; 16], blocks: &[[u8; 64]; 16]) -> (Rows16<8>, Rows16<16>) {
    let mut s = [[0u32; 16]; 8];
    let mut w = [[0u32; 16]; 16];
    for l in 0..16 {
        for j in 0..8 {
            s[j][l] = states[l][j];
        }
        for j in 0..16 {
            w[j][l] = u32::from_be_bytes(blocks[l][4 * j..4 * j + 4].try_into().unwrap());
        }
    }
    (s, w)
}

fn from_rows(s: &Rows16<8>) -> [[u32; 8]; 16] {
    std::array::from_fn(|l| std::array::from_fn(|j| s[j][l]))
}

/// The vector backends called directly, each with its name, where this CPU has them.
fn vector_direct(states: &Rows16<8>, words: &Rows16<16>) -> Vec<(&'static str, Rows16<8>)> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        let mut got = *states;
        if avx512::try_compress(&mut got, words) {
            out.push(("AVX-512 backend", got));
        }
        let mut got = *states;
        if avx2::try_compress(&mut got, words) {
            out.push(("AVX2 backend", got));
        }
        let mut got = *states;
        if ni::rows(&mut got, Some(words), &[0; 64]) {
            out.push(("SHA-NI word-major backend", got));
        }
    }
    let _ = (states, words);
    out
}

proptest! {
    /// The 16-lane call (whatever backend it picks), its AVX-512 backend and its portable
    /// fallback, each against sha2 lane by lane.
    #[test]
    fn x16_matches_sha2(states in lanes::<_, 16>(state()), blocks in lanes::<_, 16>(block())) {
        let want = reference(&states, &blocks);
        let (rows, words) = to_rows(&states, &blocks);
        let mut got = rows;
        compress256_x16(&mut got, &words);
        prop_assert_eq!(from_rows(&got), want, "public API");
        let mut got = rows;
        compress_x16_portable(&mut got, |l| blocks[l]);
        prop_assert_eq!(from_rows(&got), want, "portable fallback");
        let mut got = rows;
        compress_x16_blocks(&mut got, |l| blocks[l]);
        prop_assert_eq!(from_rows(&got), want, "pairwise (SHA-NI) fallback");
        for (name, got) in vector_direct(&rows, &words) {
            prop_assert_eq!(from_rows(&got), want, "{}", name);
        }
        let lane_words: Lanes16<16> = from_rows16(&words);
        let mut got = states;
        compress256_lanes_x16(&mut got, &lane_words);
        prop_assert_eq!(got, want, "lane-major public API");
        #[cfg(target_arch = "x86_64")]
        {
            let mut got = states;
            if ni::lanes(&mut got, Some(&lane_words), &[0; 64]) {
                prop_assert_eq!(got, want, "SHA-NI lane-major backend");
            }
        }
    }

    /// A pre-scheduled block in every lane, on every path, against sha2.
    #[test]
    fn x16_scheduled_matches_sha2(states in lanes::<_, 16>(state()), b in block()) {
        let want = reference(&states, &[b; 16]);
        let scheduled = Scheduled::new(&b);
        prop_assert_eq!(scheduled.block(), &b);
        let (rows, _) = to_rows(&states, &[b; 16]);
        let mut got = rows;
        compress256_x16_scheduled(&mut got, &scheduled);
        prop_assert_eq!(from_rows(&got), want, "public API");
        let mut got = rows;
        compress_x16_blocks(&mut got, |_| b);
        prop_assert_eq!(from_rows(&got), want, "fallback");
        #[cfg(target_arch = "x86_64")]
        {
            let mut got = rows;
            if avx512::try_compress_scheduled(&mut got, &scheduled.kw) {
                prop_assert_eq!(from_rows(&got), want, "AVX-512 backend");
            }
            let mut got = rows;
            if avx2::try_compress_scheduled(&mut got, &scheduled.kw) {
                prop_assert_eq!(from_rows(&got), want, "AVX2 backend");
            }
            let mut got = rows;
            if ni::rows(&mut got, None, &scheduled.kw) {
                prop_assert_eq!(from_rows(&got), want, "SHA-NI word-major backend");
            }
            let mut got = states;
            if ni::lanes(&mut got, None, &scheduled.kw) {
                prop_assert_eq!(got, want, "SHA-NI lane-major backend");
            }
        }
        let mut got = states;
        compress256_lanes_x16_scheduled(&mut got, &scheduled);
        prop_assert_eq!(got, want, "lane-major public API");
    }
}

/// Lane-major from word-major, for any word count.
fn from_rows16<const N: usize>(rows: &[[u32; 16]; N]) -> [[u32; N]; 16] {
    std::array::from_fn(|l| std::array::from_fn(|j| rows[j][l]))
}

/// The lane-major functions on every kernel this CPU has, forced in turn (each kernel computes the
/// same, so the other tests running meanwhile are unaffected by the switch).
#[test]
fn lane_major_functions_agree_with_sha2_on_every_kernel() {
    let states: [[u32; 8]; 16] =
        std::array::from_fn(|l| std::array::from_fn(|j| IV[j] ^ (l as u32 * 0x0101_0101)));
    let blocks: [[u8; 64]; 16] =
        std::array::from_fn(|l| std::array::from_fn(|i| (l * 64 + i) as u8));
    let want = reference(&states, &blocks);
    let want_scheduled = reference(&states, &[blocks[3]; 16]);
    let (_, words) = to_rows(&states, &blocks);
    let words = from_rows16(&words);
    let scheduled = Scheduled::new(&blocks[3]);
    let before = kernel();
    for k in Kernel::supported_here() {
        set_kernel(k).unwrap();
        let mut got = states;
        compress256_lanes_x16(&mut got, &words);
        assert_eq!(got, want, "{k}");
        let mut got = states;
        compress256_lanes_x16_scheduled(&mut got, &scheduled);
        assert_eq!(got, want_scheduled, "{k}, scheduled");
        assert_eq!(k.word_major(), matches!(k, Kernel::Avx512 | Kernel::Avx2));
    }
    set_kernel(before).unwrap();
}

#[test]
fn x16_known_answers() {
    // Each one-block message in four lanes apiece, from the IV: the digests must come out.
    let padded: [[u8; 64]; 4] = ONE_BLOCK.map(|(m, _)| pad(m)[0]);
    let blocks: [[u8; 64]; 16] = std::array::from_fn(|l| padded[l % 4]);
    let (mut rows, words) = to_rows(&[IV; 16], &blocks);
    compress256_x16(&mut rows, &words);
    for (l, state) in from_rows(&rows).iter().enumerate() {
        assert_eq!(hex_state(state), ONE_BLOCK[l % 4].1, "lane {l}");
    }
}

/// FIPS 180-2 padding of a message into whole blocks.
fn pad(message: &[u8]) -> Vec<[u8; 64]> {
    let mut bytes = message.to_vec();
    bytes.push(0x80);
    while bytes.len() % 64 != 56 {
        bytes.push(0);
    }
    bytes.extend_from_slice(&(message.len() as u64 * 8).to_be_bytes());
    bytes
        .chunks_exact(64)
        .map(|c| c.try_into().unwrap())
        .collect()
}

fn hex_state(state: &[u32; 8]) -> String {
    state.iter().map(|w| format!("{w:08x}")).collect()
}

/// Hashes four messages of the same block count, one per lane, with `f`.
fn hash4(messages: [&[u8]; 4], f: fn(&mut [[u32; 8]; 4], &[[u8; 64]; 4])) -> [String; 4] {
    let padded = messages.map(pad);
    let mut states = [IV; 4];
    for i in 0..padded[0].len() {
        let blocks = padded.each_ref().map(|p| p[i]);
        f(&mut states, &blocks);
    }
    states.map(|s| hex_state(&s))
}

const ONE_BLOCK: [(&[u8], &str); 4] = [
    (
        b"",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ),
    (
        b"abc",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    ),
    (
        b"The quick brown fox jumps over the lazy dog",
        "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592",
    ),
    // 55 bytes: the longest message whose padding still fits in one block.
    (
        b"0123456789012345678901234567890123456789012345678901234",
        "f34d5a0f80c0cbf84c8c0b90218c22637abd199965249da736a20143c8c9c9d9",
    ),
];

const TWO_BLOCK: (&[u8], &str) = (
    b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
);

#[test]
fn known_answers_one_block() {
    let messages = ONE_BLOCK.map(|(m, _)| m);
    let want = ONE_BLOCK.map(|(_, d)| d.to_string());
    assert_eq!(hash4(messages, compress256_x4), want, "public API");
    assert_eq!(
        hash4(messages, compress_portable::<4>),
        want,
        "portable fallback"
    );
}

#[test]
fn known_answers_two_blocks() {
    let messages = [TWO_BLOCK.0; 4];
    let want = [
        TWO_BLOCK.1.to_string(),
        TWO_BLOCK.1.to_string(),
        TWO_BLOCK.1.to_string(),
        TWO_BLOCK.1.to_string(),
    ];
    assert_eq!(hash4(messages, compress256_x4), want, "public API");
    assert_eq!(
        hash4(messages, compress_portable::<4>),
        want,
        "portable fallback"
    );
}

#[test]
fn known_answers_agree_with_sha2_digest() {
    use sha2::Digest;
    for (message, digest) in ONE_BLOCK.iter().chain([&TWO_BLOCK]) {
        assert_eq!(hex_state_bytes(&sha2::Sha256::digest(message)), *digest);
    }
}

fn hex_state_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn kernels_are_probed_named_and_refused_when_missing() {
    // The line shows in `--nocapture` runs which path the public API took in the other tests.
    println!(
        "SHA-256 kernel in use: {} (supported: {:?})",
        kernel(),
        Kernel::supported_here()
    );
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(
            Kernel::Avx512.supported(),
            std::is_x86_feature_detected!("avx512f")
        );
        assert_eq!(
            Kernel::Avx2.supported(),
            std::is_x86_feature_detected!("avx2")
        );
        assert_eq!(
            Kernel::ShaNi.supported(),
            std::is_x86_feature_detected!("sha")
        );
    }
    assert!(Kernel::Portable.supported());
    assert!(Kernel::best().supported());
    for k in Kernel::ALL {
        assert_eq!(Kernel::from_code(k.code()), Some(k));
        assert_eq!(Kernel::from_name(k.name()), Some(k));
        match parse(k.name()) {
            Ok(got) => assert_eq!(got, k),
            Err(e) => {
                assert!(!k.supported(), "{k}: {e}");
                assert_eq!(e, KernelError::Unsupported(k));
            }
        }
    }
    assert_eq!(parse("auto"), Ok(Kernel::best()));
    assert_eq!(parse(""), Ok(Kernel::best()));
    let e = parse("avx1024").unwrap_err();
    assert_eq!(e, KernelError::Unknown("avx1024".into()));
    assert!(e.to_string().contains("sha-ni"), "{e}");
}
