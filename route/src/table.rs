//! `RouteTable`: every registered pattern in one segment trie, so that finding the
//! handlers of a route costs about the same with ten patterns as with a thousand.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::error::{RouteError, Syntax};
use crate::grammar::{self, SegmentKind, Segs};
use crate::route::Pattern;

/// Patterns with a value each, indexed so that [`matching`](Self::matching) walks only
/// the trie branches a route can take instead of testing every pattern.
///
/// ```
/// use herald_route::{Pattern, RouteTable};
/// let mut table = RouteTable::new();
/// table.insert(Pattern::parse("user.:user_id.created")?, "profile");
/// table.insert(Pattern::parse("user.*")?, "audit");
/// table.insert(Pattern::parse("order.*")?, "billing");
/// let found: Vec<_> = table.matching("user.42.created").copied().collect();
/// assert_eq!(found, ["profile", "audit"]);
/// # Ok::<(), herald_route::RouteError>(())
/// ```
pub struct RouteTable<T> {
    nodes: Vec<Node>,
    entries: Vec<(Pattern, T)>,
}

/// A trie node: one edge per literal, and at most one edge each for `:param`, `:param?`
/// and `*` (parameter names do not change what matches, so they share an edge).
#[derive(Default)]
struct Node {
    literals: HashMap<Box<str>, u32, BuildHasherDefault<Fnv>>,
    param: Option<u32>,
    optional: Option<u32>,
    wildcard: Option<u32>,
    /// Entries whose pattern ends here.
    ends: Vec<u32>,
}

impl<T> Default for RouteTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> RouteTable<T> {
    /// An empty table.
    pub fn new() -> Self {
        RouteTable {
            nodes: vec![Node::default()],
            entries: Vec::new(),
        }
    }

    /// Adds `pattern` with `value`. The same pattern may be added more than once; each
    /// value matches.
    pub fn insert(&mut self, pattern: Pattern, value: T) {
        let mut node = 0;
        for (kind, text) in pattern.segments() {
            node = self.child(node, kind, text);
        }
        let index = u32::try_from(self.entries.len()).expect("fewer than 2^32 routes");
        self.nodes[node as usize].ends.push(index);
        self.entries.push((pattern, value));
    }

    fn child(&mut self, node: u32, kind: SegmentKind, text: &str) -> u32 {
        let next = u32::try_from(self.nodes.len()).expect("fewer than 2^32 trie nodes");
        let parent = &mut self.nodes[node as usize];
        let slot = match kind {
            SegmentKind::Literal => parent.literals.entry(text.into()).or_insert(next),
            SegmentKind::Param => parent.param.get_or_insert(next),
            SegmentKind::OptionalParam => parent.optional.get_or_insert(next),
            SegmentKind::Wildcard => parent.wildcard.get_or_insert(next),
        };
        let child = *slot;
        if child == next {
            self.nodes.push(Node::default());
        }
        child
    }

    /// Parses `pattern` and adds it with `value`.
    pub fn insert_str(&mut self, pattern: &str, value: T) -> Result<(), RouteError> {
        self.insert(Pattern::parse(pattern)?, value);
        Ok(())
    }

    /// Every value whose pattern matches `route`, in the order they were inserted. An
    /// invalid concrete route matches nothing.
    pub fn matching(&self, route: &str) -> impl Iterator<Item = &T> + '_ {
        self.matching_entries(route).map(|(_, value)| value)
    }

    /// Every `(pattern, value)` whose pattern matches `route`, in insertion order.
    pub fn matching_entries(&self, route: &str) -> impl Iterator<Item = (&Pattern, &T)> + '_ {
        let mut found = Vec::new();
        // An empty table (no handler of a kind) needs no parse of the route.
        let segs = match self.entries.is_empty() {
            true => None,
            false => grammar::parse(route, Syntax::Concrete).ok(),
        };
        if let Some(segs) = segs {
            let mut walk = Walk {
                table: self,
                route,
                segs: &segs,
                found: &mut found,
                seen: Vec::new(),
            };
            walk.visit(0, 0);
        }
        found.sort_unstable();
        found.into_iter().map(|index| {
            let (pattern, value) = &self.entries[index as usize];
            (pattern, value)
        })
    }

    /// Every `(pattern, value)`, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&Pattern, &T)> + '_ {
        self.entries.iter().map(|(pattern, value)| (pattern, value))
    }

    /// How many patterns were inserted.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<T> FromIterator<(Pattern, T)> for RouteTable<T> {
    fn from_iter<I: IntoIterator<Item = (Pattern, T)>>(iter: I) -> Self {
        let mut table = RouteTable::new();
        for (pattern, value) in iter {
            table.insert(pattern, value);
        }
        table
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for RouteTable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(pattern, value)| (pattern.as_str(), value)),
            )
            .finish()
    }
}

struct Walk<'a, T> {
    table: &'a RouteTable<T>,
    route: &'a str,
    segs: &'a Segs,
    found: &'a mut Vec<u32>,
    /// `(node, segment)` pairs reached through a `*` or `:name?` edge. Only those edges
    /// let two paths meet at one node with the same input left, so remembering them
    /// alone keeps every node visit unique.
    seen: Vec<(u32, u8)>,
}

impl<T> Walk<'_, T> {
    /// At trie node `node`, with route segments from `at` still to match.
    fn visit(&mut self, node: u32, at: usize) {
        let n = &self.table.nodes[node as usize];
        if let Some(optional) = n.optional {
            self.visit_once(optional, at); // the optional parameter is absent
        }
        if at == self.segs.len {
            self.found.extend_from_slice(&n.ends);
            return;
        }
        let seg = self.segs.get(at);
        let text = &self.route[seg.start as usize..seg.end as usize];
        if let Some(&child) = n.literals.get(text) {
            self.visit(child, at + 1);
        }
        if let Some(param) = n.param {
            self.visit(param, at + 1);
        }
        if let Some(optional) = n.optional {
            self.visit_once(optional, at + 1);
        }
        if let Some(wildcard) = n.wildcard {
            for end in at + 1..=self.segs.len {
                self.visit_once(wildcard, end);
            }
        }
    }

    fn visit_once(&mut self, node: u32, at: usize) {
        let key = (node, at as u8);
        if !self.seen.contains(&key) {
            self.seen.push(key);
            self.visit(node, at);
        }
    }
}

/// FNV-1a: literal segments are short, and SipHash's DoS resistance buys nothing for
/// keys the application itself registered.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}
