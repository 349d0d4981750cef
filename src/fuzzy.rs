//! Fuzzy matching for the picker and `runbook list --filter`, with nucleo-matcher (the
//! matcher behind helix's picker): smart case, Unicode-normalised, fzf-style syntax.

use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str, Utf32String};

/// A query compiled once and matched against many haystacks.
pub struct Fuzzy {
    matcher: Matcher,
    pattern: Pattern,
    buf: Vec<char>,
}

impl std::fmt::Debug for Fuzzy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fuzzy").finish_non_exhaustive()
    }
}

impl Fuzzy {
    pub fn new(query: &str) -> Self {
        Self {
            matcher: Matcher::new(Config::DEFAULT.match_paths()),
            pattern: Pattern::parse(query, CaseMatching::Smart, Normalization::Smart),
            buf: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pattern.atoms.is_empty()
    }

    /// The score of `haystack`, or `None` when it does not match.
    pub fn score(&mut self, haystack: &str) -> Option<u32> {
        if self.is_empty() {
            return Some(0);
        }
        self.pattern.score(Utf32Str::new(haystack, &mut self.buf), &mut self.matcher)
    }

    /// The char indices of `haystack` that the query matched, for highlighting.
    pub fn indices(&mut self, haystack: &str) -> Vec<usize> {
        let mut indices = Vec::new();
        if !self.is_empty() {
            self.pattern.indices(Utf32Str::new(haystack, &mut self.buf), &mut self.matcher, &mut indices);
        }
        indices.sort_unstable();
        indices.dedup();
        indices.into_iter().map(|i| i as usize).collect()
    }

    /// Like [`Fuzzy::rank`] over haystacks converted once (`Utf32String`), optionally only
    /// the indices in `within` (the matches of a shorter query: typing only narrows).
    pub fn rank_prepared(&mut self, items: &[Utf32String], within: Option<&[usize]>) -> Vec<usize> {
        if self.is_empty() {
            return within.map_or_else(|| (0..items.len()).collect(), <[usize]>::to_vec);
        }
        let candidates: Box<dyn Iterator<Item = usize>> = match within {
            Some(w) => Box::new(w.iter().copied()),
            None => Box::new(0..items.len()),
        };
        let mut scored: Vec<(u32, usize)> = candidates
            .filter_map(|i| self.pattern.score(items[i].slice(..), &mut self.matcher).map(|s| (s, i)))
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().map(|(_, i)| i).collect()
    }

    /// Indices of `items` that match, best first; ties keep the input order.
    pub fn rank<'a>(&mut self, items: impl IntoIterator<Item = &'a str>) -> Vec<usize> {
        let mut scored: Vec<(u32, usize)> =
            items.into_iter().enumerate().filter_map(|(i, text)| self.score(text).map(|s| (s, i))).collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().map(|(_, i)| i).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_closer_matches_first_and_drops_misses() {
        let items = ["deploy/production", "incidents/api-5xx", "deploy/staging", "onboarding/tour"];
        let order = Fuzzy::new("dep prod").rank(items.iter().copied());
        assert_eq!(order, vec![0]);
        let order = Fuzzy::new("dpl").rank(items.iter().copied());
        assert_eq!(order.len(), 2);
        assert!(Fuzzy::new("zzz").rank(items.iter().copied()).is_empty());
    }

    #[test]
    fn empty_query_matches_everything_in_order() {
        let items = ["b", "a"];
        assert_eq!(Fuzzy::new("").rank(items.iter().copied()), vec![0, 1]);
    }

    #[test]
    fn reports_matched_characters() {
        assert_eq!(Fuzzy::new("api").indices("incidents/api-5xx"), vec![10, 11, 12]);
    }
}
