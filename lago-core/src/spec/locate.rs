//! The position side map: where each key of an init file is written.
//!
//! serde_yaml's `Value` carries no positions, so the text is read a second
//! time with saphyr-parser's event parser, which reports a line and column for
//! every node. [`Locator`] records the position of every mapping key and
//! sequence item under its [`KeyPath`], follows aliases and merge keys (`<<`)
//! so that copied keys point at where they are written, and notes the first
//! duplicate key it meets (JSON parsers keep the last value silently).
//! JSON is YAML, so the same reader serves JSON files.
//!
//! The side map is best effort: if the event parser rejects the text or
//! the map grows past a size limit, positions are simply missing and errors
//! are reported without a line.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::path::{KeyPath, Segment};

/// A 1-based line and column in the init file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    /// Line, from 1.
    pub(crate) line: usize,
    /// Column in characters, from 1.
    pub(crate) column: usize,
}

impl Pos {
    fn of(span: &Span) -> Self {
        Self {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// A key written twice in one mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Duplicate {
    /// The path of the repeated key.
    pub(crate) path: KeyPath,
    /// Where it is written the second time.
    pub(crate) at: Pos,
    /// Where it is written first.
    pub(crate) first: Pos,
}

/// The most entries recorded; aliases of aliases can multiply entries
/// exponentially ("billion laughs"), so recording stops here.
const MAX_ENTRIES: usize = 100_000;

/// Positions of the keys of one init file, by key path.
#[derive(Debug, Default)]
pub(crate) struct Locator {
    positions: HashMap<KeyPath, Pos>,
    duplicate: Option<Duplicate>,
    /// Per domain, the prototypes it is based on (nearest first): a key that
    /// a domain inherits is located where the prototype writes it.
    bases: HashMap<String, Vec<String>>,
}

impl Locator {
    /// Reads `text` and records the position of every key and item.
    pub(crate) fn build(text: &str) -> Self {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        let mut documents = 0usize;
        while let Some(next) = parser.next_event() {
            let Ok((event, span)) = next else {
                break;
            };
            if let Event::DocumentStart(_) = event {
                documents += 1;
                if documents > 1 {
                    break;
                }
            }
            builder.event(event, &span);
            if builder.entries.len() > MAX_ENTRIES {
                break;
            }
        }
        builder.finish()
    }

    /// The first key found written twice in the same mapping, if any.
    pub(crate) fn duplicate(&self) -> Option<&Duplicate> {
        self.duplicate.as_ref()
    }

    /// Records that domain `vm` inherits keys from `chain` (nearest first).
    pub(crate) fn set_bases(&mut self, vm: &str, chain: Vec<String>) {
        self.bases.insert(vm.to_owned(), chain);
    }

    /// Where the value at `path` is written: the position of its key (or of
    /// the item, in a sequence). A path that is not written in the file (a
    /// missing key, say) falls back to its nearest written ancestor, and a
    /// key a domain inherits from a prototype to where the prototype has it.
    pub(crate) fn find(&self, path: &KeyPath) -> Option<Pos> {
        let mut current = Some(path.clone());
        while let Some(path) = current {
            if let Some(pos) = self.positions.get(&path) {
                return Some(*pos);
            }
            if let Some(pos) = self.via_prototype(&path) {
                return Some(pos);
            }
            current = path.parent();
        }
        None
    }

    fn via_prototype(&self, path: &KeyPath) -> Option<Pos> {
        let [Segment::Key(top), Segment::Key(vm), rest @ ..] = path.segments() else {
            return None;
        };
        if top != "domains" || rest.is_empty() {
            return None;
        }
        self.bases.get(vm)?.iter().find_map(|proto| {
            let alt = KeyPath::root().key("prototypes").key(proto).join(rest);
            self.positions.get(&alt).copied()
        })
    }
}

/// One recorded position. A weak entry (from a merge key) never replaces a
/// key written in the mapping itself.
struct Entry {
    path: KeyPath,
    pos: Pos,
    weak: bool,
}

/// A key read in a mapping, waiting for its value.
struct PendingKey {
    /// `None` for keys that are not scalars (never looked up).
    name: Option<String>,
    pos: Pos,
    /// The key is `<<`: its value is merged into the mapping.
    merge: bool,
}

enum FrameKind {
    Map {
        pending: Option<PendingKey>,
        seen: HashMap<String, Pos>,
    },
    Seq {
        next: usize,
        /// The sequence is the value of a merge key: its items merge into the
        /// mapping that holds the key.
        merge: bool,
    },
}

/// An open mapping or sequence.
struct Frame {
    /// `None` inside a part of the document that is never looked up
    /// (a mapping used as a key).
    path: Option<KeyPath>,
    weak: bool,
    anchor: usize,
    /// Index into the entries where this node's descendants start.
    start: usize,
    kind: FrameKind,
}

/// Where a new node goes.
enum Placement {
    /// The node is a key of the innermost mapping.
    Key,
    /// The node is a value at `path` (`None`: not tracked).
    Value {
        path: Option<KeyPath>,
        weak: bool,
        merge_seq: bool,
    },
}

#[derive(Default)]
struct Builder {
    entries: Vec<Entry>,
    frames: Vec<Frame>,
    /// Descendant positions of each anchored node, relative to the node.
    anchors: HashMap<usize, Vec<(Vec<Segment>, Pos)>>,
    duplicate: Option<Duplicate>,
}

impl Builder {
    fn record(&mut self, path: KeyPath, pos: Pos, weak: bool) {
        if self.entries.len() <= MAX_ENTRIES {
            self.entries.push(Entry { path, pos, weak });
        }
    }

    /// Decides where a node starting at `pos` goes, recording the position of
    /// its key or item.
    fn place(&mut self, pos: Pos) -> Placement {
        let Some(frame) = self.frames.last_mut() else {
            self.record(KeyPath::root(), pos, false);
            return Placement::Value {
                path: Some(KeyPath::root()),
                weak: false,
                merge_seq: false,
            };
        };
        let parent = frame.path.clone();
        let weak = frame.weak;
        let (path, weak, merge_seq, record_at) = match &mut frame.kind {
            FrameKind::Map { pending, .. } => {
                let Some(key) = pending.take() else {
                    return Placement::Key;
                };
                match (parent, key.name) {
                    (Some(parent), Some(_)) if key.merge => (Some(parent), true, true, None),
                    (Some(parent), Some(name)) => {
                        let path = parent.key(&name);
                        (Some(path.clone()), weak, false, Some((path, key.pos)))
                    }
                    _ => (None, weak, false, None),
                }
            }
            FrameKind::Seq { next, merge } => {
                let index = *next;
                *next += 1;
                match parent {
                    Some(parent) if *merge => (Some(parent), true, false, None),
                    Some(parent) => {
                        let path = parent.index(index);
                        (Some(path.clone()), weak, false, Some((path, pos)))
                    }
                    None => (None, weak, false, None),
                }
            }
        };
        if let Some((at, key_pos)) = record_at {
            self.record(at, key_pos, weak);
        }
        Placement::Value {
            path,
            weak,
            merge_seq,
        }
    }

    /// A scalar key `name` at `pos` in the innermost mapping (`None`: a
    /// key that is not a scalar).
    fn key(&mut self, name: Option<String>, merge: bool, pos: Pos) {
        let Some(frame) = self.frames.last_mut() else {
            return;
        };
        let FrameKind::Map { pending, seen } = &mut frame.kind else {
            return;
        };
        if let Some(name) = &name {
            if let Some(first) = seen.get(name) {
                if let (None, Some(parent)) = (&self.duplicate, &frame.path) {
                    self.duplicate = Some(Duplicate {
                        path: parent.key(name),
                        at: pos,
                        first: *first,
                    });
                }
            } else {
                seen.insert(name.clone(), pos);
            }
        }
        *pending = Some(PendingKey { name, pos, merge });
    }

    fn open(&mut self, anchor: usize, span: &Span, map: bool) {
        let pos = Pos::of(span);
        let (path, weak, merge_seq) = match self.place(pos) {
            Placement::Key => {
                self.key(None, false, pos);
                (None, false, false)
            }
            Placement::Value {
                path,
                weak,
                merge_seq,
            } => (path, weak, merge_seq),
        };
        let kind = if map {
            FrameKind::Map {
                pending: None,
                seen: HashMap::new(),
            }
        } else {
            FrameKind::Seq {
                next: 0,
                merge: merge_seq,
            }
        };
        self.frames.push(Frame {
            path,
            weak,
            anchor,
            start: self.entries.len(),
            kind,
        });
    }

    fn close(&mut self) {
        let Some(frame) = self.frames.pop() else {
            return;
        };
        let (Some(base), true) = (frame.path, frame.anchor != 0) else {
            return;
        };
        let depth = base.segments().len();
        let relative = self
            .entries
            .get(frame.start..)
            .unwrap_or_default()
            .iter()
            .filter_map(|entry| {
                let rest = entry.path.segments().get(depth..)?;
                Some((rest.to_vec(), entry.pos))
            })
            .collect();
        self.anchors.insert(frame.anchor, relative);
    }

    fn alias(&mut self, id: usize, span: &Span) {
        let pos = Pos::of(span);
        match self.place(pos) {
            Placement::Key => self.key(None, false, pos),
            Placement::Value {
                path: Some(path),
                weak,
                ..
            } => {
                let copies = self.anchors.get(&id).cloned().unwrap_or_default();
                for (rest, at) in copies {
                    self.record(path.join(&rest), at, weak);
                }
            }
            Placement::Value { path: None, .. } => {}
        }
    }

    fn event(&mut self, event: Event<'_>, span: &Span) {
        match event {
            Event::Scalar(value, style, anchor, _) => {
                let pos = Pos::of(span);
                match self.place(pos) {
                    Placement::Key => {
                        let merge = style == ScalarStyle::Plain && value == "<<";
                        self.key(Some(value.into_owned()), merge, pos);
                    }
                    Placement::Value { .. } => {
                        if anchor != 0 {
                            self.anchors.insert(anchor, Vec::new());
                        }
                    }
                }
            }
            Event::MappingStart(anchor, _) => self.open(anchor, span, true),
            Event::SequenceStart(anchor, _) => self.open(anchor, span, false),
            Event::MappingEnd | Event::SequenceEnd => self.close(),
            Event::Alias(id) => self.alias(id, span),
            _ => {}
        }
    }

    fn finish(self) -> Locator {
        let mut positions = HashMap::with_capacity(self.entries.len());
        for entry in self.entries {
            if entry.weak {
                positions.entry(entry.path).or_insert(entry.pos);
            } else {
                positions.insert(entry.path, entry.pos);
            }
        }
        Locator {
            positions,
            duplicate: self.duplicate,
            bases: HashMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> KeyPath {
        let mut out = KeyPath::root();
        for part in text.split('.') {
            if let Some((key, index)) = part.split_once('[') {
                if !key.is_empty() {
                    out = out.key(key);
                }
                out = out.index(index.trim_end_matches(']').parse().unwrap());
            } else {
                out = out.key(part);
            }
        }
        out
    }

    fn at(loc: &Locator, p: &str) -> Option<(usize, usize)> {
        loc.find(&path(p)).map(|pos| (pos.line, pos.column))
    }

    #[test]
    fn locates_keys_and_items() {
        let text = "domains:\n  vm0:\n    nics:\n      - net: n0\n      - {net: n1, ip: 1.2.3.4}\nnets:\n  n0: {}\n";
        let loc = Locator::build(text);
        assert_eq!(at(&loc, "domains"), Some((1, 1)));
        assert_eq!(at(&loc, "domains.vm0"), Some((2, 3)));
        assert_eq!(at(&loc, "domains.vm0.nics[0]"), Some((4, 9)));
        assert_eq!(at(&loc, "domains.vm0.nics[0].net"), Some((4, 9)));
        assert_eq!(at(&loc, "domains.vm0.nics[1].ip"), Some((5, 19)));
        assert_eq!(at(&loc, "nets.n0"), Some((7, 3)));
        // A key that is not written falls back to its parent.
        assert_eq!(at(&loc, "nets.n0.gw"), Some((7, 3)));
        assert!(loc.duplicate().is_none());
    }

    #[test]
    fn follows_aliases_and_merge_keys() {
        let text = "\
base: &base
  memory: 1024
  vcpu: 2
domains:
  vm0:
    <<: *base
    vcpu: 4
  vm1: *base
";
        let loc = Locator::build(text);
        assert_eq!(at(&loc, "domains.vm0.memory"), Some((2, 3)));
        assert_eq!(at(&loc, "domains.vm0.vcpu"), Some((7, 5)));
        assert_eq!(at(&loc, "domains.vm1.memory"), Some((2, 3)));
        assert!(loc.duplicate().is_none());
    }

    #[test]
    fn explicit_key_before_merge_wins() {
        let text = "b: &b {x: 1}\nm:\n  x: 2\n  <<: [*b]\n";
        let loc = Locator::build(text);
        assert_eq!(at(&loc, "m.x"), Some((3, 3)));
    }

    #[test]
    fn finds_duplicate_keys_in_json_and_yaml() {
        let loc = Locator::build("{\"nets\": {\"n0\": {}, \"n0\": {}}}");
        let dup = loc.duplicate().unwrap();
        assert_eq!(dup.path, path("nets.n0"));
        assert_eq!((dup.at.line, dup.at.column), (1, 21));
        assert_eq!((dup.first.line, dup.first.column), (1, 11));

        let loc = Locator::build("domains:\n  vm0: {}\n  vm0: {}\n");
        let dup = loc.duplicate().unwrap();
        assert_eq!(dup.path, path("domains.vm0"));
        assert_eq!(dup.at.line, 3);
        assert_eq!(dup.first.line, 2);
    }

    #[test]
    fn prototype_keys_point_into_the_prototype() {
        let text = "prototypes:\n  p:\n    memory: 512\ndomains:\n  vm0:\n    based-on: p\n";
        let mut loc = Locator::build(text);
        loc.set_bases("vm0", vec!["p".into()]);
        assert_eq!(at(&loc, "domains.vm0.memory"), Some((3, 5)));
        assert_eq!(at(&loc, "domains.vm0.based-on"), Some((6, 5)));
    }

    #[test]
    fn broken_text_gives_partial_map() {
        let loc = Locator::build("a: 1\nb: [\n");
        assert_eq!(at(&loc, "a"), Some((1, 1)));
        let loc = Locator::build("");
        assert_eq!(at(&loc, "a"), None);
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let loc = Locator::build(&text);
        assert!(loc.positions.len() <= MAX_ENTRIES + 1);
    }
}
