//! Content hashes that agree across machines.
//!
//! A Windows checkout with `core.autocrlf` has CRLF line endings where a Linux CI agent has LF,
//! for the same commit. Text files are therefore hashed with CRLF read as LF, as git itself
//! stores them; binary files (a NUL byte in the first 8,000 bytes, git's own test) are hashed as
//! they are.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// How far into a file to look for a NUL byte when deciding whether it is binary (git's figure).
const BINARY_SNIFF: usize = 8000;

/// SHA-256 (lowercase hex) of a file's content, with CRLF read as LF in text files.
pub fn file_sha256(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut text: Option<bool> = None;
    // A CR that ended the previous chunk: dropped if the next chunk starts with LF.
    let mut pending_cr = false;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        let chunk = &buffer[..read];
        let is_text = *text.get_or_insert_with(|| !chunk[..chunk.len().min(BINARY_SNIFF)].contains(&0));
        if !is_text {
            hasher.update(chunk);
            continue;
        }
        if pending_cr && chunk[0] != b'\n' {
            hasher.update(b"\r");
        }
        pending_cr = false;
        let mut start = 0;
        for at in memchr::memchr_iter(b'\r', chunk) {
            match chunk.get(at + 1) {
                Some(b'\n') => {
                    hasher.update(&chunk[start..at]);
                    start = at + 1;
                }
                Some(_) => {}
                None => {
                    hasher.update(&chunk[start..at]);
                    start = chunk.len();
                    pending_cr = true;
                }
            }
        }
        hasher.update(&chunk[start..]);
    }
    if pending_cr {
        hasher.update(b"\r");
    }
    Ok(hex::encode(hasher.finalize()))
}

/// SHA-256 over records of text fields, each length-prefixed so that no two different lists of
/// records hash alike (paths may hold any character, tabs and newlines included).
#[derive(Default)]
pub struct RecordHasher(Sha256);

impl RecordHasher {
    /// Adds one record.
    pub fn record(&mut self, fields: &[&str]) {
        self.0.update((fields.len() as u64).to_le_bytes());
        for field in fields {
            self.0.update((field.len() as u64).to_le_bytes());
            self.0.update(field.as_bytes());
        }
    }

    /// Lowercase hex of the hash.
    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn hash_of(bytes: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, bytes).unwrap();
        file_sha256(&path).unwrap()
    }

    #[test]
    fn text_line_endings_do_not_matter_binary_bytes_do() {
        assert_eq!(hash_of(b"a\r\nb\r\n"), sha(b"a\nb\n"));
        assert_eq!(hash_of(b"a\rb\r"), sha(b"a\rb\r"), "a lone CR is content");
        assert_eq!(hash_of(b""), sha(b""));
        let binary = b"\x89PNG\0\r\n\x1a\n";
        assert_eq!(hash_of(binary), sha(binary));
    }

    #[test]
    fn crlf_split_across_read_chunks() {
        // 64 KiB reads: put a CRLF exactly across the first chunk boundary, and a lone CR at
        // the next one.
        let mut text = vec![b'x'; 64 * 1024 - 1];
        text.extend_from_slice(b"\r\ny");
        text.resize(128 * 1024 - 1, b'z');
        text.extend_from_slice(b"\rq\r\n");
        let expected = String::from_utf8(text.clone()).unwrap().replace("\r\n", "\n");
        assert_eq!(hash_of(&text), sha(expected.as_bytes()));
    }

    #[test]
    fn records_are_unambiguous() {
        let hash = |records: &[&[&str]]| {
            let mut hasher = RecordHasher::default();
            records.iter().for_each(|r| hasher.record(r));
            hasher.finish()
        };
        assert_ne!(hash(&[&["ab", "c"]]), hash(&[&["a", "bc"]]));
        assert_ne!(hash(&[&["a"], &["b"]]), hash(&[&["a", "b"]]));
        assert_eq!(hash(&[&["a", "b"]]), hash(&[&["a", "b"]]));
    }
}
