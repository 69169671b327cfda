//! Exposure Notification cryptography: TEK, RPIK, AEMK, RPI, AEM and the broadcast metadata.
//!
//! The key derivation is HKDF-SHA256 with an empty salt, written directly on the SHA-256 compression
//! function: the HMAC states for the all-zero salt are the same for every key, and a 16-byte TEK and a
//! 7-byte info string each fit in one block, so deriving an RPIK costs six compressions instead of the
//! eight a general HKDF needs. Matching derives one RPIK per diagnosis key, so this is on the hot path.

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128Enc;
/// One AES block, the unit of batched RPI generation.
pub use aes::Block;
use rand_core::CryptoRngCore;

use crate::interval::TEK_ROLLING_PERIOD;

/// Length of a TEK, RPIK, AEMK and RPI in bytes.
pub const KEY_LEN: usize = 16;
/// Length of the metadata and of the AEM in bytes.
pub const METADATA_LEN: usize = 4;

const RPIK_INFO: &[u8; 7] = b"EN-RPIK";
const AEMK_INFO: &[u8; 7] = b"EN-AEMK";
const RPI_PREFIX: &[u8; 6] = b"EN-RPI";

/// A Temporary Exposure Key: 16 random bytes, one per UTC day.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tek(pub [u8; KEY_LEN]);

impl std::fmt::Debug for Tek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tek({})", hex::encode(self.0))
    }
}

impl Tek {
    /// A fresh key from a cryptographically secure generator.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut key = [0u8; KEY_LEN];
        rng.fill_bytes(&mut key);
        Self(key)
    }

    /// Derives both keys at once; the HKDF extract step is shared between them.
    pub fn derive_keys(&self) -> (RpiKey, AemKey) {
        let prk = HkdfPrk::extract(&self.0);
        (
            RpiKey::new(&prk.expand16(RPIK_INFO)),
            AemKey(prk.expand16(AEMK_INFO)),
        )
    }

    /// The Rolling Proximity Identifier Key (HKDF info `EN-RPIK`).
    pub fn rpi_key(&self) -> RpiKey {
        RpiKey::new(&HkdfPrk::extract(&self.0).expand16(RPIK_INFO))
    }

    /// The Associated Encrypted Metadata Key (HKDF info `EN-AEMK`).
    pub fn aem_key(&self) -> AemKey {
        AemKey(HkdfPrk::extract(&self.0).expand16(AEMK_INFO))
    }
}

/// A Rolling Proximity Identifier: what a phone broadcasts for one 10-minute interval.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rpi(pub [u8; KEY_LEN]);

impl std::fmt::Debug for Rpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rpi({})", hex::encode(self.0))
    }
}

/// The RPI key, kept as an expanded AES-128 key schedule so RPIs can be generated in batches.
#[derive(Clone)]
pub struct RpiKey {
    raw: [u8; KEY_LEN],
    // Encrypt-only: the decryption round keys of `Aes128` would double the key schedule per key.
    cipher: Aes128Enc,
}

impl std::fmt::Debug for RpiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpiKey").finish_non_exhaustive()
    }
}

impl RpiKey {
    /// An RPI key from its 16 raw bytes.
    pub fn new(raw: &[u8; KEY_LEN]) -> Self {
        Self {
            raw: *raw,
            cipher: Aes128Enc::new(GenericArray::from_slice(raw)),
        }
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.raw
    }

    /// The RPI for one interval number.
    pub fn rpi(&self, interval: u32) -> Rpi {
        let mut block = GenericArray::from(padded_data(interval));
        self.cipher.encrypt_block(&mut block);
        Rpi(block.into())
    }

    /// Fills `out` with the RPIs of `out.len()` consecutive intervals from `start`.
    ///
    /// All blocks go to the cipher in one call, so AES-NI keeps several blocks in flight.
    pub fn rpis_into(&self, start: u32, out: &mut [Block]) {
        for (i, block) in out.iter_mut().enumerate() {
            // Intervals wrap like the u32 on the wire; a real key never gets near the end.
            *block = Block::from(padded_data(start.wrapping_add(i as u32)));
        }
        self.cipher.encrypt_blocks(out);
    }

    /// The RPIs of a day through a reusable [`RpiBatch`]: the fastest way to derive many keys' RPIs.
    pub fn day_rpis_into<'a>(&self, start: u32, batch: &'a mut RpiBatch) -> &'a [Block] {
        let mut output = std::mem::take(&mut batch.output);
        // The lengths are equal by construction of `RpiBatch`.
        let _ = self
            .cipher
            .encrypt_blocks_b2b(batch.input(start), &mut output);
        batch.output = output;
        &batch.output
    }

    /// The 144 RPIs of a key's day, starting at `start`.
    pub fn day_rpis(&self, start: u32) -> Vec<Rpi> {
        let mut out = vec![Block::default(); TEK_ROLLING_PERIOD as usize];
        self.rpis_into(start, &mut out);
        out.into_iter().map(|b| Rpi(b.into())).collect()
    }
}

/// Buffers for deriving 144 RPIs at a time without rebuilding the plaintext blocks each time.
///
/// Keeps the plaintexts of up to 16 recent days (direct-mapped by day number): consecutive keys of
/// a published batch belong to different days, and rewriting 144 interval numbers per key cost
/// about a tenth of the AES time.
#[derive(Debug, Clone)]
pub struct RpiBatch {
    inputs: Vec<(Option<u32>, Vec<Block>)>,
    output: Vec<Block>,
}

impl Default for RpiBatch {
    fn default() -> Self {
        Self {
            inputs: vec![(None, Vec::new()); 16],
            output: vec![Block::default(); TEK_ROLLING_PERIOD as usize],
        }
    }
}

impl RpiBatch {
    /// The plaintexts for a day starting at `start`, built on first use.
    fn input(&mut self, start: u32) -> &[Block] {
        let (cached, blocks) = &mut self.inputs[(start / TEK_ROLLING_PERIOD) as usize % 16];
        if *cached != Some(start) {
            blocks.clear();
            blocks.extend(
                (0..TEK_ROLLING_PERIOD).map(|i| Block::from(padded_data(start.wrapping_add(i)))),
            );
            *cached = Some(start);
        }
        blocks
    }
}

/// The 16-byte RPI plaintext: "EN-RPI", six zero bytes, the interval number little-endian.
pub fn padded_data(interval: u32) -> [u8; KEY_LEN] {
    let mut block = [0u8; KEY_LEN];
    block[..6].copy_from_slice(RPI_PREFIX);
    block[12..].copy_from_slice(&interval.to_le_bytes());
    block
}

/// The AEM key: encrypts and decrypts the 4-byte metadata with AES-128-CTR, the RPI as IV.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AemKey(pub [u8; KEY_LEN]);

impl std::fmt::Debug for AemKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AemKey").finish_non_exhaustive()
    }
}

impl AemKey {
    /// Encrypts (or, being CTR mode, decrypts) 4 bytes of metadata under the given RPI.
    pub fn apply(&self, rpi: &Rpi, data: [u8; METADATA_LEN]) -> [u8; METADATA_LEN] {
        // CTR with the RPI as the initial counter block: only the first keystream block is ever used,
        // so one AES block encryption is the whole cipher.
        let cipher = Aes128Enc::new(GenericArray::from_slice(&self.0));
        let mut keystream = GenericArray::from(rpi.0);
        cipher.encrypt_block(&mut keystream);
        let mut out = data;
        for (o, k) in out.iter_mut().zip(keystream.iter()) {
            *o ^= k;
        }
        out
    }

    /// The AEM broadcast next to `rpi`.
    pub fn encrypt(&self, rpi: &Rpi, metadata: &Metadata) -> [u8; METADATA_LEN] {
        self.apply(rpi, metadata.encode())
    }

    /// The metadata inside an AEM received next to `rpi`.
    pub fn decrypt(&self, rpi: &Rpi, aem: [u8; METADATA_LEN]) -> Metadata {
        Metadata::decode(self.apply(rpi, aem))
    }
}

/// Transmit-power calibration confidence, bits 3:2 of the metadata version byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum CalibrationConfidence {
    /// Fleet-wide default.
    #[default]
    Lowest = 0,
    /// Average over the manufacturer's models.
    Low = 1,
    /// A single antenna orientation for a similar model.
    Medium = 2,
    /// Significant calibration data for this model.
    High = 3,
}

impl CalibrationConfidence {
    /// The confidence for a 2-bit value; only the low two bits are read.
    pub fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0 => Self::Lowest,
            1 => Self::Low,
            2 => Self::Medium,
            _ => Self::High,
        }
    }
}

/// The 4-byte metadata broadcast (encrypted) next to each RPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Metadata {
    /// Major protocol version (bits 7:6 of byte 0); 1 for every published version.
    pub major: u8,
    /// Minor protocol version (bits 5:4 of byte 0).
    pub minor: u8,
    /// Calibration confidence (bits 3:2 of byte 0), meaningful from version 1.1.
    pub calibration_confidence: CalibrationConfidence,
    /// Transmit power in dBm, signed.
    pub tx_power: i8,
}

impl Metadata {
    /// Version 1.0 metadata (`0x40`) with the given transmit power.
    pub fn v1_0(tx_power: i8) -> Self {
        Self {
            major: 1,
            minor: 0,
            calibration_confidence: CalibrationConfidence::Lowest,
            tx_power,
        }
    }

    /// Version 1.1 metadata (`0x50`) carrying a calibration confidence.
    pub fn v1_1(tx_power: i8, calibration_confidence: CalibrationConfidence) -> Self {
        Self {
            major: 1,
            minor: 1,
            calibration_confidence,
            tx_power,
        }
    }

    /// The 4 plaintext bytes; versions are masked to their 2-bit fields, reserved bytes are zero.
    pub fn encode(&self) -> [u8; METADATA_LEN] {
        let version = ((self.major & 0b11) << 6)
            | ((self.minor & 0b11) << 4)
            | ((self.calibration_confidence as u8) << 2);
        [version, self.tx_power.to_le_bytes()[0], 0, 0]
    }

    /// Reads 4 plaintext bytes. Any bytes decode: the AEM is not authenticated, so callers must
    /// sanity-check the values (matching bounds the transmit power).
    pub fn decode(bytes: [u8; METADATA_LEN]) -> Self {
        Self {
            major: bytes[0] >> 6,
            minor: (bytes[0] >> 4) & 0b11,
            calibration_confidence: CalibrationConfidence::from_bits(bytes[0] >> 2),
            tx_power: i8::from_le_bytes([bytes[1]]),
        }
    }
}

/// SHA-256 initial hash value (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

type Sha256Block = GenericArray<u8, aes::cipher::consts::U64>;

fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    sha2::compress256(state, std::slice::from_ref(Sha256Block::from_slice(block)));
}

/// The SHA-256 state after one block of `key ^ pad` (the key zero-padded to 64 bytes).
fn keyed_state(key: &[u8], pad: u8) -> [u32; 8] {
    let mut state = SHA256_IV;
    compress(&mut state, &pad_key(key, pad));
    state
}

/// The last block of a message whose first 64 bytes are already hashed, with a short tail (< 56 bytes).
fn final_block(tail: &[u8]) -> [u8; 64] {
    let mut block = [0u8; 64];
    block[..tail.len()].copy_from_slice(tail);
    block[tail.len()] = 0x80;
    let bits = ((64 + tail.len()) as u64) * 8;
    block[56..].copy_from_slice(&bits.to_be_bytes());
    block
}

fn digest_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Finishes a hash whose first 64 bytes are already in `state`, with a short tail (< 56 bytes).
fn finish(mut state: [u32; 8], tail: &[u8]) -> [u8; 32] {
    compress(&mut state, &final_block(tail));
    digest_bytes(&state)
}

fn pad_key(key: &[u8], pad: u8) -> [u8; 64] {
    let mut block = [pad; 64];
    for (b, k) in block.iter_mut().zip(key) {
        *b ^= k;
    }
    block
}

/// The RPI keys of four TEKs at once: the same six-compression HKDF as [`Tek::rpi_key`], with the four
/// independent hash chains interleaved so the SHA unit is never idle waiting on one chain.
pub fn rpi_keys_x4(teks: &[Tek; 4]) -> [RpiKey; 4] {
    use warnkit_sha256x::{compress256_x4, compress256_x8};
    // Extract: PRK = HMAC(zero salt, TEK).
    let mut inner = [ZERO_SALT_INNER; 4];
    compress256_x4(&mut inner, &teks.map(|t| final_block(&t.0)));
    let mut outer = [ZERO_SALT_OUTER; 4];
    compress256_x4(&mut outer, &inner.map(|s| final_block(&digest_bytes(&s))));
    let prks = outer.map(|s| digest_bytes(&s));
    // Expand: the HMAC states of each PRK (8 lanes), then T(1) = HMAC(PRK, "EN-RPIK" || 1).
    let mut keyed = [SHA256_IV; 8];
    let mut blocks = [[0u8; 64]; 8];
    for (i, prk) in prks.iter().enumerate() {
        blocks[i] = pad_key(prk, 0x36);
        blocks[4 + i] = pad_key(prk, 0x5c);
    }
    compress256_x8(&mut keyed, &blocks);
    let mut msg = [0u8; 8];
    msg[..7].copy_from_slice(RPIK_INFO);
    msg[7] = 0x01;
    let mut inner = [keyed[0], keyed[1], keyed[2], keyed[3]];
    compress256_x4(&mut inner, &[final_block(&msg); 4]);
    let mut outer = [keyed[4], keyed[5], keyed[6], keyed[7]];
    compress256_x4(&mut outer, &inner.map(|s| final_block(&digest_bytes(&s))));
    outer.map(|s| {
        let okm = digest_bytes(&s);
        let mut raw = [0u8; KEY_LEN];
        raw.copy_from_slice(&okm[..KEY_LEN]);
        RpiKey::new(&raw)
    })
}

/// The RPI keys of sixteen TEKs at once: the same six-compression HKDF as [`Tek::rpi_key`], on
/// sixteen lanes side by side, in the layout of the SHA-256 kernel in use
/// ([`warnkit_sha256x::Kernel::word_major`]).
///
/// On the vector kernels (AVX-512, AVX2) the data stays word-major from the TEKs to the keys: each
/// digest becomes the next block's message words row by row, with the padding and HMAC pad words as
/// constant rows. On SHA-NI and the portable kernel it stays lane-major, one key's words together.
/// Either way the one block that is the same for every key (`info || 0x01`) has its message
/// schedule precomputed.
pub fn rpi_keys_x16(teks: &[Tek; 16]) -> [RpiKey; 16] {
    rpi_key_bytes_x16(teks).map(|raw| RpiKey::new(&raw))
}

/// [`rpi_keys_x16`] without the AES key schedules.
pub fn rpi_key_bytes_x16(teks: &[Tek; 16]) -> [[u8; KEY_LEN]; 16] {
    use warnkit_sha256x::{compress256_x16, compress256_x16_scheduled, Rows16};
    if !warnkit_sha256x::kernel().word_major() {
        return rpi_key_bytes_lanes_x16(teks);
    }
    /// A row holding `word` in every lane.
    const fn splat(word: u32) -> [u32; 16] {
        [word; 16]
    }
    /// Padded message rows for a 32-byte tail after one hashed block: the digest rows, then
    /// 0x80, zeros and the length 96 bytes in bits.
    fn digest_block(digest: &Rows16<8>) -> Rows16<16> {
        let mut words = [splat(0); 16];
        words[..8].copy_from_slice(digest);
        words[8] = splat(0x8000_0000);
        words[15] = splat(96 * 8);
        words
    }
    // Extract, inner: the TEK's four words, 0x80, zeros, 80 bytes in bits.
    let mut words = [splat(0); 16];
    for (l, tek) in teks.iter().enumerate() {
        for (j, chunk) in tek.0.chunks_exact(4).enumerate() {
            words[j][l] = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
    }
    words[4] = splat(0x8000_0000);
    words[15] = splat(80 * 8);
    let mut inner = ZERO_SALT_INNER.map(splat);
    compress256_x16(&mut inner, &words);
    // Extract, outer: PRK = HMAC(zero salt, TEK).
    let mut prk = ZERO_SALT_OUTER.map(splat);
    compress256_x16(&mut prk, &digest_block(&inner));
    // Expand: the PRK's HMAC key states, then T(1) = HMAC(PRK, "EN-RPIK" || 1).
    let keyed = |pad: u32| {
        let mut words = [splat(pad); 16];
        for (row, prk_row) in words.iter_mut().zip(&prk) {
            for (w, p) in row.iter_mut().zip(prk_row) {
                *w ^= p;
            }
        }
        let mut state = SHA256_IV.map(splat);
        compress256_x16(&mut state, &words);
        state
    };
    let mut inner = keyed(0x3636_3636);
    let mut outer = keyed(0x5c5c_5c5c);
    compress256_x16_scheduled(&mut inner, &EXPAND_BLOCK);
    compress256_x16(&mut outer, &digest_block(&inner));
    let mut out = [[0u8; KEY_LEN]; 16];
    for (l, raw) in out.iter_mut().enumerate() {
        for (j, chunk) in raw.chunks_exact_mut(4).enumerate() {
            chunk.copy_from_slice(&outer[j][l].to_be_bytes());
        }
    }
    out
}

/// The HKDF-Expand block shared by every key, `info || 0x01` padded, its message schedule
/// precomputed.
const EXPAND_BLOCK: warnkit_sha256x::Scheduled = warnkit_sha256x::Scheduled::new(&{
    let mut block = [0u8; 64];
    let mut i = 0;
    while i < RPIK_INFO.len() {
        block[i] = RPIK_INFO[i];
        i += 1;
    }
    block[7] = 0x01;
    block[8] = 0x80;
    // 64 + 8 bytes hashed, in bits.
    block[62] = 0x02;
    block[63] = 0x40;
    block
});

/// [`rpi_key_bytes_x16`] in the lane-major layout ([`warnkit_sha256x::Lanes16`]), for the SHA-256
/// kernels whose native layout that is (SHA-NI, portable): the same six compressions, each lane's
/// words handed over as they are instead of transposed into rows and back at every step (on SHA-NI
/// that costs about a fifth of each compression).
fn rpi_key_bytes_lanes_x16(teks: &[Tek; 16]) -> [[u8; KEY_LEN]; 16] {
    use warnkit_sha256x::{compress256_lanes_x16, compress256_lanes_x16_scheduled, Lanes16};
    /// A 32-byte digest after one hashed block, padded: 0x80, zeros, 96 bytes in bits.
    fn digest_block(digest: &[u32; 8]) -> [u32; 16] {
        let mut words = [0u32; 16];
        words[..8].copy_from_slice(digest);
        words[8] = 0x8000_0000;
        words[15] = 96 * 8;
        words
    }
    // Extract, inner: the TEK's four words, 0x80, zeros, 80 bytes in bits.
    let mut words: Lanes16<16> = [[0; 16]; 16];
    for (lane, tek) in words.iter_mut().zip(teks) {
        for (w, chunk) in lane.iter_mut().zip(tek.0.chunks_exact(4)) {
            *w = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        lane[4] = 0x8000_0000;
        lane[15] = 80 * 8;
    }
    let mut inner: Lanes16<8> = [ZERO_SALT_INNER; 16];
    compress256_lanes_x16(&mut inner, &words);
    // Extract, outer: PRK = HMAC(zero salt, TEK).
    let mut prk: Lanes16<8> = [ZERO_SALT_OUTER; 16];
    compress256_lanes_x16(&mut prk, &inner.map(|d| digest_block(&d)));
    // Expand: the PRK's HMAC key states, then T(1) = HMAC(PRK, "EN-RPIK" || 1).
    let keyed = |pad: u32| {
        let words: Lanes16<16> = prk.map(|p| {
            let mut lane = [pad; 16];
            for (w, p) in lane.iter_mut().zip(&p) {
                *w ^= p;
            }
            lane
        });
        let mut state: Lanes16<8> = [SHA256_IV; 16];
        compress256_lanes_x16(&mut state, &words);
        state
    };
    let mut inner = keyed(0x3636_3636);
    let mut outer = keyed(0x5c5c_5c5c);
    compress256_lanes_x16_scheduled(&mut inner, &EXPAND_BLOCK);
    compress256_lanes_x16(&mut outer, &inner.map(|d| digest_block(&d)));
    outer.map(|state| {
        let mut raw = [0u8; KEY_LEN];
        for (chunk, w) in raw.chunks_exact_mut(4).zip(&state) {
            chunk.copy_from_slice(&w.to_be_bytes());
        }
        raw
    })
}

// RFC 5869: an absent salt is HashLen zero bytes, which HMAC pads to a zero block, so the HMAC
// states after the first block are the same for every TEK: SHA-256 of `0x36 * 64` and `0x5c * 64`
// stopped after one compression. A unit test recomputes them.
const ZERO_SALT_INNER: [u32; 8] = [
    0xf454_dead,
    0x9725_214f,
    0x90da_f2a0,
    0xdf12_28ea,
    0x64e5_750f,
    0xa392_4181,
    0x824a_932b,
    0xf8e0_4e32,
];
const ZERO_SALT_OUTER: [u32; 8] = [
    0xd385_480f,
    0x7abb_6477,
    0x37c9_c538,
    0x5dd8_2467,
    0x8e04_3a72,
    0x7534_34b0,
    0xdeb8_2818,
    0x361d_45a6,
];

/// HKDF-SHA256 pseudo-random key from a TEK (empty salt), with the HMAC states for expanding.
struct HkdfPrk {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl HkdfPrk {
    fn extract(ikm: &[u8; KEY_LEN]) -> Self {
        let prk = finish(ZERO_SALT_OUTER, &finish(ZERO_SALT_INNER, ikm));
        Self {
            inner: keyed_state(&prk, 0x36),
            outer: keyed_state(&prk, 0x5c),
        }
    }

    /// The first 16 bytes of T(1) = HMAC(PRK, info || 0x01).
    fn expand16(&self, info: &[u8; 7]) -> [u8; KEY_LEN] {
        let mut msg = [0u8; 8];
        msg[..7].copy_from_slice(info);
        msg[7] = 0x01;
        let okm = finish(self.outer, &finish(self.inner, &msg));
        let mut out = [0u8; KEY_LEN];
        out.copy_from_slice(&okm[..KEY_LEN]);
        out
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_at_once_equals_one_by_one() {
        let teks = [Tek([1; 16]), Tek([2; 16]), Tek([0xff; 16]), Tek([0; 16])];
        let batched = rpi_keys_x4(&teks);
        for (tek, key) in teks.iter().zip(&batched) {
            assert_eq!(key.as_bytes(), tek.rpi_key().as_bytes());
        }
    }

    #[test]
    fn batched_rpis_follow_the_start_through_the_day_cache() {
        let key = Tek([7; 16]).rpi_key();
        let mut batch = RpiBatch::default();
        // Same start twice, a start 16 days later (same cache slot), an unaligned one, and back.
        for start in [
            2_833_200,
            2_833_200,
            2_833_200 + 16 * 144,
            2_833_277,
            2_833_200,
        ] {
            let blocks = key.day_rpis_into(start, &mut batch).to_vec();
            for (i, block) in blocks.iter().enumerate() {
                assert_eq!(
                    block.as_slice(),
                    key.rpi(start + i as u32).0,
                    "start {start}, i {i}"
                );
            }
        }
    }

    #[test]
    fn sixteen_at_once_equals_one_by_one() {
        let teks: [Tek; 16] = std::array::from_fn(|i| Tek([i as u8 * 17; 16]));
        let batched = rpi_keys_x16(&teks);
        for (tek, key) in teks.iter().zip(&batched) {
            assert_eq!(key.as_bytes(), tek.rpi_key().as_bytes());
        }
    }

    #[test]
    fn zero_salt_states_are_the_constants() {
        assert_eq!(keyed_state(&[], 0x36), ZERO_SALT_INNER);
        assert_eq!(keyed_state(&[], 0x5c), ZERO_SALT_OUTER);
    }
}
