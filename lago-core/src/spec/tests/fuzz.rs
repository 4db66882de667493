//! Robustness: random bytes, random YAML-ish text and random mutations of a
//! valid file never make loading panic, and every error names the file.

use std::path::Path;

use crate::spec::load_str_with;

const BASIC_SUITE: &str = include_str!("../../../tests/fixtures/spec/ost-basic-suite.yaml");
const SMALL_SUITE: &str = include_str!("../../../tests/fixtures/spec/ost-small-suite.json");

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// How many inputs each test tries: `LAGO_FUZZ_ROUNDS` (default 1500) for
/// longer runs by hand.
fn rounds() -> usize {
    std::env::var("LAGO_FUZZ_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1500)
}

fn vars(name: &str) -> Option<String> {
    (name == "HOME").then(|| "/root".to_owned())
}

/// Loads `text`; the only acceptable outcomes are a spec or an error that
/// names the file.
fn must_not_panic(text: &str, what: &str) {
    let result = std::panic::catch_unwind(|| load_str_with(text, Path::new("fuzz.yaml"), &vars));
    match result {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => {
            let shown = err.to_string();
            assert!(shown.starts_with("fuzz.yaml"), "{what}: {shown}");
        }
        Err(_) => panic!("loading panicked on {what}: {text:?}"),
    }
}

const YAMLISH: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ": ",
    "- ",
    ",",
    "\n",
    "\n  ",
    "  ",
    "&a ",
    "*a",
    "<<: ",
    "!!str ",
    "|",
    ">",
    "'",
    "\"",
    "#",
    "?",
    "%",
    "@",
    "`",
    "~",
    "null",
    "true",
    "1",
    "-1",
    "1.5",
    ".inf",
    "0x1f",
    "domains",
    "nets",
    "vm0",
    "n0",
    "nics",
    "net",
    "ip",
    "disks",
    "type",
    "template",
    "memory",
    "based-on",
    "prototypes",
    "192.168.200.1",
    "gw",
    "management",
    "$LAGO_INITFILE_PATH",
    "\t",
    "\u{feff}",
    "é",
    "\0",
];

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..rounds() {
        let len = rng.below(120);
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next() & 0xff) as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        must_not_panic(&text, &format!("random bytes #{round}"));
    }
}

#[test]
fn random_yamlish_text_never_panics() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for round in 0..rounds() {
        let pieces = rng.below(60);
        let text: String = (0..pieces).map(|_| *rng.pick(YAMLISH)).collect();
        must_not_panic(&text, &format!("yaml-ish text #{round}"));
    }
}

/// One random edit of `text`: delete, insert, duplicate or swap.
fn mutate(rng: &mut Rng, text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = rng.below(chars.len() + 1);
    let mut out: Vec<char> = chars.clone();
    match rng.below(6) {
        0 => {
            let end = (at + rng.below(40)).min(out.len());
            out.drain(at..end);
        }
        1 => {
            let piece = rng.pick(YAMLISH);
            for (i, c) in piece.chars().enumerate() {
                out.insert(at + i, c);
            }
        }
        2 => {
            if at < out.len() {
                out[at] =
                    *rng.pick(&[' ', '\n', ':', '-', '{', '[', '&', '*', 'x', '9', '"', '\t']);
            }
        }
        3 => {
            let lines: Vec<&str> = text.lines().collect();
            let mut lines: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            if !lines.is_empty() {
                let i = rng.below(lines.len());
                let j = rng.below(lines.len());
                lines.swap(i, j);
            }
            return lines.join("\n");
        }
        4 => {
            let lines: Vec<&str> = text.lines().collect();
            let mut lines: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            if !lines.is_empty() {
                let i = rng.below(lines.len());
                let copy = lines[i].clone();
                lines.insert(rng.below(lines.len()), copy);
            }
            return lines.join("\n");
        }
        _ => {
            out.truncate(at);
        }
    }
    out.into_iter().collect()
}

#[test]
fn mutations_of_valid_files_never_panic() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for (name, base) in [("basic", BASIC_SUITE), ("small", SMALL_SUITE)] {
        for round in 0..rounds() / 2 {
            let mut text = base.to_owned();
            for _ in 0..=rng.below(4) {
                text = mutate(&mut rng, &text);
            }
            must_not_panic(&text, &format!("{name} mutation #{round}"));
        }
    }
}

#[test]
fn deep_and_huge_documents_are_refused_cleanly() {
    must_not_panic(&"[".repeat(10_000), "deep flow sequences");
    must_not_panic(&"{a: ".repeat(10_000), "deep flow mappings");
    let mut deep_block = String::new();
    for i in 0..300 {
        deep_block.push_str(&" ".repeat(i));
        deep_block.push_str("k:\n");
    }
    must_not_panic(&deep_block, "deep block mappings");
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = i - 1;
        let refs = vec![format!("*a{prev}"); 10].join(", ");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    bomb.push_str("domains: {}\nnets: {n0: {}}\n");
    must_not_panic(&bomb, "alias bomb");
}
