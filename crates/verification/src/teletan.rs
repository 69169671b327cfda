//! teleTANs: 9 random characters from an alphabet without look-alikes, plus a check character.

use rand::Rng;
use sha2::{Digest, Sha256};

/// The 31 characters a teleTAN is made of (no 0, O, 1, I, L).
pub const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// Random characters before the check character.
pub const RANDOM_LEN: usize = 9;

/// The check character of the 9 random characters: the first hex digit of their SHA-256, uppercased, with
/// `0` written `G` and `1` written `H` (both outside the alphabet otherwise).
pub fn check_char(random: &str) -> char {
    let digest = Sha256::digest(random.as_bytes());
    match digest[0] >> 4 {
        0 => 'G',
        1 => 'H',
        d => char::from_digit(u32::from(d), 16).map_or('G', |c| c.to_ascii_uppercase()),
    }
}

/// A new teleTAN from `rng` (a cryptographic one in production).
pub fn generate(rng: &mut impl Rng) -> String {
    let mut tan: String = (0..RANDOM_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    let check = check_char(&tan);
    tan.push(check);
    tan
}

/// Whether `s` is a well-formed teleTAN: 10 alphabet characters with a matching check character.
pub fn is_valid(s: &str) -> bool {
    s.len() == RANDOM_LEN + 1
        && s.bytes().all(|b| ALPHABET.contains(&b))
        && s[RANDOM_LEN..].starts_with(check_char(&s[..RANDOM_LEN]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_teletans_are_valid() {
        let mut rng = rand::thread_rng();
        for _ in 0..1000 {
            let t = generate(&mut rng);
            assert!(is_valid(&t), "{t}");
        }
    }

    #[test]
    fn check_character_rules() {
        // Vector computed independently: sha256("R3ZNUEV9J") starts with a hex digit whose mapping we pin.
        let nine = "R3ZNUEV9J";
        let first = hex::encode(Sha256::digest(nine))[..1].to_uppercase();
        let expected = match first.as_str() {
            "0" => "G".to_owned(),
            "1" => "H".to_owned(),
            other => other.to_owned(),
        };
        assert_eq!(check_char(nine).to_string(), expected);
        // Every check character is in the alphabet.
        for c in "0123456789abcdef".chars() {
            let mapped = match c {
                '0' => 'G',
                '1' => 'H',
                c => c.to_ascii_uppercase(),
            };
            assert!(ALPHABET.contains(&(mapped as u8)));
        }
    }

    #[test]
    fn rejects_bad_teletans() {
        let good = generate(&mut rand::thread_rng());
        assert!(!is_valid(&good[..9]));
        assert!(!is_valid(&good.to_lowercase()));
        let mut bad_check = good[..9].to_owned();
        let wrong = if good.ends_with('G') { 'H' } else { 'G' };
        bad_check.push(wrong);
        assert!(!is_valid(&bad_check));
        assert!(!is_valid("0000000000"));
        assert!(!is_valid("ÄÄÄÄÄ"));
    }
}
