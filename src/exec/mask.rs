//! Masking secrets in a byte stream, including a secret split across two reads.

use memchr::memmem;

use crate::runbook::template::MASK;

/// Replaces secrets in a stream of chunks. Keeps back the last `longest - 1` bytes of each
/// chunk, because they may be the start of a secret that the next chunk completes.
#[derive(Debug, Default)]
pub struct Masker {
    secrets: Vec<Vec<u8>>,
    longest: usize,
    pending: Vec<u8>,
}

impl Masker {
    pub fn new(secrets: &[String]) -> Self {
        let mut secrets: Vec<Vec<u8>> =
            crate::runbook::template::secret_forms(secrets).into_iter().map(String::into_bytes).collect();
        // Longest first, so a secret that contains another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let longest = secrets.first().map_or(0, Vec::len);
        Self { secrets, longest, pending: Vec::new() }
    }

    pub fn is_active(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// Masks `chunk` and returns what can be emitted now.
    pub fn push(&mut self, chunk: Vec<u8>) -> Vec<u8> {
        if !self.is_active() {
            return chunk;
        }
        self.pending.extend_from_slice(&chunk);
        let (masked, mut cut) = self.mask_all();
        // Hold back a possible secret prefix at the end.
        let hold = self.longest.saturating_sub(1).min(masked.len());
        cut = cut.max(masked.len() - hold).min(masked.len());
        let (out, rest) = masked.split_at(cut);
        let out = out.to_vec();
        self.pending = rest.to_vec();
        out
    }

    /// Everything still held back, masked.
    pub fn finish(&mut self) -> Vec<u8> {
        let (masked, _) = self.mask_all();
        self.pending.clear();
        masked
    }

    /// Masks complete occurrences in `pending`; returns the text and the end of the last mask,
    /// so a cut never splits a mask.
    fn mask_all(&self) -> (Vec<u8>, usize) {
        let mut text = self.pending.clone();
        let mut last_end = 0;
        for secret in &self.secrets {
            let mut out = Vec::with_capacity(text.len());
            let mut start = 0;
            for at in memmem::find_iter(&text, secret) {
                if at < start {
                    continue;
                }
                out.extend_from_slice(&text[start..at]);
                out.extend_from_slice(MASK.as_bytes());
                start = at + secret.len();
                last_end = last_end.max(out.len());
            }
            out.extend_from_slice(&text[start..]);
            text = out;
        }
        (text, last_end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(secrets: &[&str], chunks: &[&str]) -> String {
        let secrets: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
        let mut m = Masker::new(&secrets);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(m.push(c.as_bytes().to_vec()));
        }
        out.extend(m.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn masks_secrets_split_across_chunks() {
        assert_eq!(stream(&["hunter2"], &["pass=hun", "ter2 ok"]), "pass=•••• ok");
        assert_eq!(stream(&["hunter2"], &["h", "u", "n", "t", "e", "r", "2", "!"]), "••••!");
        assert_eq!(stream(&["abc", "abcdef"], &["xabcdefx abc"]), "x••••x ••••");
    }

    #[test]
    fn passes_text_through_without_secrets() {
        assert_eq!(stream(&[], &["a", "b"]), "ab");
        assert_eq!(stream(&["zzz"], &["hello ", "world"]), "hello world");
    }
}
