use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use proptest::prelude::*;

use super::*;

/// The `aes` crate's answer, block by block.
fn reference(key: &Block, blocks: &[Block]) -> Vec<Block> {
    let cipher = aes::Aes128Enc::new(GenericArray::from_slice(key));
    blocks
        .iter()
        .map(|b| {
            let mut g = GenericArray::clone_from_slice(b);
            cipher.encrypt_block(&mut g);
            g.into()
        })
        .collect()
}

/// Positions passing `probe`, by the plain loop.
fn reference_hits(probe: &Probe<'_>, blocks: &[Block]) -> Vec<u8> {
    (0..blocks.len())
        .filter(|&i| probe.passes(&blocks[i]))
        .map(|i| i as u8)
        .collect()
}

fn patterns() -> [u64; 1024] {
    std::array::from_fn(|i| {
        let i = i as u64;
        (1 << (i % 64)) | (1 << ((i * 7 + 3) % 64)) | (1 << ((i * 13 + 5) % 64))
    })
}

#[test]
fn fips_197_appendix_c1() {
    let key: Block = std::array::from_fn(|i| i as u8);
    let mut block: Block = std::array::from_fn(|i| (i as u8) * 0x11);
    Aes128::new(&key).encrypt_blocks(std::slice::from_mut(&mut block));
    assert_eq!(
        block,
        [
            0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4,
            0xc5, 0x5a
        ]
    );
}

#[test]
fn runs_on_aes_ni_where_the_cpu_has_it_unless_told_otherwise() {
    // `WARNKIT_AES_KERNEL=aes-crate` in the environment makes every key soft; nothing in this
    // binary changes the kernel, so the test holds either way.
    let wanted = kernel::kernel() == kernel::Kernel::AesNi;
    assert_eq!(Aes128::new(&[0; 16]).accelerated(), wanted);
    #[cfg(target_arch = "x86_64")]
    assert_eq!(
        kernel::Kernel::AesNi.supported(),
        std::arch::is_x86_feature_detected!("aes")
    );
    assert_eq!(kernel::parse("auto"), Ok(kernel::Kernel::best()));
    assert_eq!(kernel::parse("aes-crate"), Ok(kernel::Kernel::AesCrate));
    assert!(kernel::parse("aes-256").unwrap_err().contains("aes-ni"));
}

#[test]
fn the_soft_backend_agrees() {
    let key = [9u8; 16];
    let soft = Aes128 {
        backend: Backend::Soft(aes::Aes128Enc::new(GenericArray::from_slice(&key))),
    };
    let input: Vec<Block> = (0..144u8).map(|i| [i; 16]).collect();
    let words: Vec<u64> = (0..64u64)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    let patterns = patterns();
    let probe = Probe::new(&words, &patterns);
    let (mut a, mut b) = (vec![[0; 16]; 144], vec![[0; 16]; 144]);
    let (mut ha, mut hb) = ([0u8; 144], [0u8; 144]);
    let na = soft.encrypt_and_probe(&input, &mut a, &probe, &mut ha);
    let nb = Aes128::new(&key).encrypt_and_probe(&input, &mut b, &probe, &mut hb);
    assert_eq!(a, b);
    assert_eq!(ha[..na], hb[..nb]);
    assert_eq!(a, reference(&key, &input));
    for len in 0..20 {
        let mut blocks = input[..len].to_vec();
        soft.encrypt_blocks(&mut blocks);
        assert_eq!(blocks, reference(&key, &input[..len]), "{len} blocks");
    }
}

#[test]
#[should_panic(expected = "power of two")]
fn a_filter_that_is_not_a_power_of_two_is_refused() {
    let words = [0u64; 3];
    Probe::new(&words, &patterns());
}

#[test]
#[should_panic(expected = "at most 256")]
fn more_than_256_blocks_are_refused() {
    let words = [0u64; 4];
    let patterns = patterns();
    let input = vec![[0u8; 16]; 257];
    let mut output = vec![[0u8; 16]; 257];
    let mut hits = vec![0u8; 257];
    Aes128::new(&[0; 16]).encrypt_and_probe(
        &input,
        &mut output,
        &Probe::new(&words, &patterns),
        &mut hits,
    );
}

proptest! {
    #[test]
    fn blocks_match_the_aes_crate(key in any::<Block>(), blocks in prop::collection::vec(any::<Block>(), 0..40)) {
        let mut ours = blocks.clone();
        Aes128::new(&key).encrypt_blocks(&mut ours);
        prop_assert_eq!(ours, reference(&key, &blocks));
    }

    /// Every length (full chunks, tails, fewer than eight), dense and sparse filters.
    #[test]
    fn probes_match_the_plain_loop(
        key in any::<Block>(),
        blocks in prop::collection::vec(any::<Block>(), 0..=256),
        log_words in 0u32..8,
        density in 0u32..4,
        seed in any::<u64>(),
    ) {
        let mut s = seed;
        let words: Vec<u64> = (0..1usize << log_words)
            .map(|_| {
                let mut w = !0u64;
                for _ in 0..density {
                    s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    w &= s;
                }
                w
            })
            .collect();
        let patterns = patterns();
        let probe = Probe::new(&words, &patterns);
        let mut output = vec![[0u8; 16]; blocks.len()];
        let mut hits = vec![0u8; blocks.len()];
        let n = Aes128::new(&key).encrypt_and_probe(&blocks, &mut output, &probe, &mut hits);
        let expected = reference(&key, &blocks);
        prop_assert_eq!(&output, &expected);
        prop_assert_eq!(&hits[..n], &reference_hits(&probe, &expected)[..]);
    }
}

#[test]
fn the_bound_measures_both_paths() {
    let rates = bound::blocks_per_second(std::time::Duration::ZERO);
    assert!(rates.aes_crate.is_finite() && rates.aes_crate > 0.0);
    assert!(rates.kernel.is_finite() && rates.kernel > 0.0);
    assert_eq!(rates.best(), rates.aes_crate.max(rates.kernel));
}
