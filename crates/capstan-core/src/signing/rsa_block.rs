//! The plugin's two RSA operations, on single 256-byte blocks.
//!
//! The plugin calls them "private-key encryption" and "public-key decryption" (Node's
//! `privateEncrypt` / `publicDecrypt` with `RSA_PKCS1_PADDING`): the payload is padded with
//! PKCS#1 v1.5 block type 1 (`00 01 FF… 00 payload`, no DigestInfo), then raised to the private
//! exponent; the device raises the block to the public exponent and strips the padding. This is
//! the raw signature primitive, so signing uses the `rsa` crate's unprefixed PKCS#1 v1.5
//! signature, and recovery is the public RSA operation followed by the type-1 unpadding that
//! Java's `RSA/ECB/PKCS1Padding` (decrypt mode, public key) and the iOS core both apply.

use rsa::hazmat::rsa_encrypt;
use rsa::traits::PublicKeyParts;
use rsa::{BoxedUint, Pkcs1v15Sign, PrivateKey, PublicKey};

/// Minimum number of `FF` padding bytes: PKCS#1 v1.5 requires eight, and so do Java and iOS.
const MIN_PADDING: usize = 8;

/// Pads `payload` with block type 1 and applies the private key: what the plugin's public-key
/// decryption undoes. Blinded with the OS random generator (blinding does not change the result).
pub(crate) fn private_encrypt(key: &PrivateKey, payload: &[u8]) -> Result<Vec<u8>, rsa::Error> {
    key.sign(Pkcs1v15Sign::new_unprefixed(), payload)
}

/// Applies the public key to `block` and strips the type-1 padding, returning the payload the
/// private key signed. `None` when the block has the wrong length, is not below the modulus, or
/// does not unpad: signed by another key, or altered. The two cases look the same by design.
pub(crate) fn public_decrypt(key: &PublicKey, block: &[u8]) -> Option<Vec<u8>> {
    let size = key.size();
    if block.len() != size {
        return None;
    }
    let signed = BoxedUint::from_be_slice(block, key.n_bits_precision()).ok()?;
    if signed >= **key.n() {
        return None;
    }
    let padded = rsa_encrypt(key, &signed).ok()?.to_be_bytes();
    // `to_be_bytes` is as wide as the modulus storage: the leading extra bytes must be zeros.
    let (extra, padded) = padded.split_at(padded.len().checked_sub(size)?);
    if extra.iter().any(|&byte| byte != 0) {
        return None;
    }
    unpad_type1(padded).map(<[u8]>::to_vec)
}

/// `00 01 FF{8,} 00 payload` → payload.
fn unpad_type1(padded: &[u8]) -> Option<&[u8]> {
    let rest = padded.strip_prefix(&[0x00, 0x01])?;
    let padding = rest.iter().take_while(|&&byte| byte == 0xFF).count();
    let rest = &rest[padding..];
    let payload = rest.strip_prefix(&[0x00])?;
    (padding >= MIN_PADDING).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpads_only_well_formed_type1_blocks() {
        let mut block = vec![0x00, 0x01];
        block.extend([0xFF; 8]);
        block.push(0x00);
        block.extend(b"payload");
        assert_eq!(unpad_type1(&block), Some(&b"payload"[..]));

        let mut short_padding = vec![0x00, 0x01];
        short_padding.extend([0xFF; 7]);
        short_padding.push(0x00);
        short_padding.extend(b"payload");
        assert_eq!(unpad_type1(&short_padding), None);

        let mut type2 = block.clone();
        type2[1] = 0x02;
        assert_eq!(unpad_type1(&type2), None);

        let mut no_separator = vec![0x00, 0x01];
        no_separator.extend([0xFF; 20]);
        assert_eq!(unpad_type1(&no_separator), None);

        let mut bad_filler = block.clone();
        bad_filler[5] = 0xFE;
        assert_eq!(unpad_type1(&bad_filler), None);
    }
}
