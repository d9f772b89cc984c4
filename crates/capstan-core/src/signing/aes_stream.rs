//! AES-128-CBC with PKCS#7 padding over streams, in bounded memory.
//!
//! The same bytes as Node's `createCipheriv('aes-128-cbc')` with auto padding (what the hosted
//! CLI writes) and Java's `AES/CBC/PKCS5Padding` (what Android reads). Bundles can be hundreds
//! of megabytes, so data flows through one fixed buffer; the decryptor holds back the last
//! block until the end of the input, because only the last block carries the padding.

use std::io::{self, ErrorKind, Read, Write};

use aes::Aes128;
use aes::cipher::array::Array;
use aes::cipher::block_padding::{Padding, Pkcs7};
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};

const BLOCK: usize = 16;
/// Bytes per read: large enough that system calls do not dominate, a multiple of the block.
const CHUNK: usize = 256 << 10;

/// Why a stream could not be encrypted.
#[derive(Debug)]
pub(crate) enum StreamError {
    /// Reading the input failed.
    Read(io::Error),
    /// Writing the output failed.
    Write(io::Error),
    /// The observer asked to stop.
    Stopped,
}

/// Why a stream could not be decrypted.
#[derive(Debug)]
pub(crate) enum DecryptError {
    /// Reading, writing, or the observer stopped it.
    Stream(StreamError),
    /// The input is empty: there is not even a padding block.
    Empty,
    /// The input is not whole AES blocks: truncated, or not encrypted.
    NotBlockAligned(u64),
    /// The last block does not end in valid PKCS#7 padding: wrong key or altered bytes.
    BadPadding,
}

impl From<StreamError> for DecryptError {
    fn from(error: StreamError) -> Self {
        DecryptError::Stream(error)
    }
}

/// Sees each chunk of plaintext (to hash it) and the input bytes consumed (for progress);
/// returns `false` to stop.
pub(crate) trait Observer {
    /// `plain` was read (encrypting) or produced (decrypting); `input_bytes` of input are done.
    fn chunk(&mut self, plain: &[u8], input_bytes: u64) -> bool;
}

impl<F: FnMut(&[u8], u64) -> bool> Observer for F {
    fn chunk(&mut self, plain: &[u8], input_bytes: u64) -> bool {
        self(plain, input_bytes)
    }
}

/// Encrypts all of `input` into `output`; returns the number of bytes written.
pub(crate) fn encrypt(
    key: &[u8; 16],
    iv: &[u8; 16],
    input: &mut impl Read,
    output: &mut impl Write,
    observer: &mut impl Observer,
) -> Result<u64, StreamError> {
    let mut cipher = cbc::Encryptor::<Aes128>::new(&(*key).into(), &(*iv).into());
    let mut buffer = vec![0u8; CHUNK + BLOCK];
    let mut written = 0u64;
    loop {
        let read = read_up_to(input, &mut buffer[..CHUNK]).map_err(StreamError::Read)?;
        if !observer.chunk(&buffer[..read], read as u64) {
            return Err(StreamError::Stopped);
        }
        let end = if read == CHUNK {
            read
        } else {
            // The end of the input: pad the partial (or empty) last block.
            let last = read / BLOCK * BLOCK;
            Pkcs7::raw_pad(&mut buffer[last..last + BLOCK], read - last);
            last + BLOCK
        };
        let (blocks, _) = Array::slice_as_chunks_mut(&mut buffer[..end]);
        cipher.encrypt_blocks(blocks);
        output.write_all(&buffer[..end]).map_err(StreamError::Write)?;
        written += end as u64;
        if read < CHUNK {
            output.flush().map_err(StreamError::Write)?;
            return Ok(written);
        }
    }
}

/// Decrypts all of `input` into `output`, checking the padding; returns the plaintext length.
pub(crate) fn decrypt(
    key: &[u8; 16],
    iv: &[u8; 16],
    input: &mut impl Read,
    output: &mut impl Write,
    observer: &mut impl Observer,
) -> Result<u64, DecryptError> {
    let mut cipher = cbc::Decryptor::<Aes128>::new(&(*key).into(), &(*iv).into());
    let mut buffer = vec![0u8; CHUNK + BLOCK];
    // Bytes at the front of `buffer` not decrypted yet: the held-back last block, or a partial one.
    let mut held = 0usize;
    let mut total_in = 0u64;
    let mut written = 0u64;
    loop {
        let read = read_up_to(input, &mut buffer[held..]).map_err(StreamError::Read)?;
        total_in += read as u64;
        let filled = held + read;
        if read == 0 {
            // End of input: `held` is the last block (or the input was malformed).
            if total_in == 0 {
                return Err(DecryptError::Empty);
            }
            if filled != BLOCK {
                return Err(DecryptError::NotBlockAligned(total_in));
            }
            let (blocks, _) = Array::slice_as_chunks_mut(&mut buffer[..BLOCK]);
            cipher.decrypt_blocks(blocks);
            let plain = Pkcs7::raw_unpad(&buffer[..BLOCK]).map_err(|_| DecryptError::BadPadding)?;
            if !observer.chunk(plain, 0) {
                return Err(StreamError::Stopped.into());
            }
            output.write_all(plain).map_err(StreamError::Write)?;
            output.flush().map_err(StreamError::Write)?;
            return Ok(written + plain.len() as u64);
        }
        // Keep back the last whole block (it may be the padded one) or the partial tail.
        let keep = match filled % BLOCK {
            0 => BLOCK,
            partial => partial,
        };
        let ready = filled - keep;
        let (blocks, _) = Array::slice_as_chunks_mut(&mut buffer[..ready]);
        cipher.decrypt_blocks(blocks);
        if !observer.chunk(&buffer[..ready], read as u64) {
            return Err(StreamError::Stopped.into());
        }
        output.write_all(&buffer[..ready]).map_err(StreamError::Write)?;
        written += ready as u64;
        buffer.copy_within(ready..filled, 0);
        held = keep;
    }
}

/// Reads until `buffer` is full or the input ends; returns how many bytes were read.
fn read_up_to(input: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 16] = [0x42; 16];
    const IV: [u8; 16] = [0x24; 16];

    fn encrypt_all(plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encrypt(&KEY, &IV, &mut &plain[..], &mut out, &mut |_: &[u8], _| true).unwrap();
        out
    }

    fn decrypt_all(encrypted: &[u8]) -> Result<Vec<u8>, DecryptError> {
        let mut out = Vec::new();
        decrypt(&KEY, &IV, &mut &encrypted[..], &mut out, &mut |_: &[u8], _| true)?;
        Ok(out)
    }

    #[test]
    fn matches_the_published_cbc_vector() {
        // The example in the `cbc` crate's documentation (key 0x42.., IV 0x24.., PKCS#7).
        let encrypted = encrypt_all(b"hello world! this is my plaintext.");
        assert_eq!(
            hex::encode(&encrypted),
            "c7fe247ef97b21f07cbdd26cb5d346bfd27867cb00d9486723e159978fb9a5f914cfb228a710de4171e396e7b6cf859e"
        );
    }

    #[test]
    fn round_trips_across_chunk_and_block_boundaries() {
        for len in [0, 1, 15, 16, 17, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 16, 3 * CHUNK + 5] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let encrypted = encrypt_all(&plain);
            assert_eq!(encrypted.len(), (len / BLOCK + 1) * BLOCK, "length {len}");
            assert_eq!(decrypt_all(&encrypted).unwrap(), plain, "length {len}");
        }
    }

    /// A reader that hands out at most 5 bytes per call, as sockets and pipes may.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(5).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn short_reads_give_the_same_bytes() {
        let plain: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let encrypted = encrypt_all(&plain);
        let mut out = Vec::new();
        decrypt(&KEY, &IV, &mut Trickle(&encrypted), &mut out, &mut |_: &[u8], _| true).unwrap();
        assert_eq!(out, plain);
    }

    #[test]
    fn refuses_empty_truncated_and_altered_input() {
        assert!(matches!(decrypt_all(&[]), Err(DecryptError::Empty)));
        let encrypted = encrypt_all(&[7u8; 100]);
        assert!(matches!(decrypt_all(&encrypted[..encrypted.len() - 1]), Err(DecryptError::NotBlockAligned(111))));
        let mut altered = encrypted.clone();
        *altered.last_mut().unwrap() ^= 0x01;
        assert!(matches!(decrypt_all(&altered), Err(DecryptError::BadPadding)));
    }

    #[test]
    fn observer_sees_every_plaintext_byte_and_can_stop() {
        let plain = vec![9u8; CHUNK * 2 + 3];
        let encrypted = encrypt_all(&plain);
        let mut seen = 0usize;
        let mut consumed = 0u64;
        let mut out = Vec::new();
        decrypt(&KEY, &IV, &mut &encrypted[..], &mut out, &mut |chunk: &[u8], input: u64| {
            seen += chunk.len();
            consumed += input;
            true
        })
        .unwrap();
        assert_eq!(seen, plain.len());
        assert_eq!(consumed, encrypted.len() as u64);

        let stop = encrypt(&KEY, &IV, &mut &plain[..], &mut Vec::new(), &mut |_: &[u8], _| false);
        assert!(matches!(stop, Err(StreamError::Stopped)));
    }
}
