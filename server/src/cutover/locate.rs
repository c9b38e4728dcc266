//! Where each node of a YAML file is: its path (`phases[2].traffic`, `runbook[0].depends_on[1]`)
//! to its line and column, for errors found once the file has parsed (an unknown step named in
//! `depends_on`, a traffic share lower than the phase before). serde reports only where parsing
//! itself failed.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Line and column (both from 1) of every node of a YAML document, by path.
#[derive(Debug, Default)]
pub struct Positions(HashMap<String, (usize, usize)>);

impl Positions {
    /// The positions of `text`'s first document (none if it does not scan: serde has reported
    /// that already).
    pub fn of(text: &str) -> Self {
        let mut walk = Walk::default();
        let _ = Parser::new_from_str(text).load(&mut walk, false);
        Positions(walk.found)
    }

    /// Where the node at `path` is, or its nearest enclosing node; the file's start for none.
    pub fn at(&self, path: &str) -> (usize, usize) {
        let mut path = path;
        loop {
            if let Some(&at) = self.0.get(path) {
                return at;
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path = &path[..cut],
                None => return self.0.get("").copied().unwrap_or((1, 1)),
            }
        }
    }
}

/// A container being walked: a mapping (its key whose value comes next, and whether its own
/// position waits for its first key) or a sequence (the index of its next item).
enum Open {
    Mapping { key: Option<String>, placed: bool },
    Sequence { next: usize },
}

#[derive(Default)]
struct Walk {
    /// Each open container, with its own path.
    open: Vec<(String, Open)>,
    found: HashMap<String, (usize, usize)>,
}

impl Walk {
    /// The path of the node starting now, or `None` for a mapping key (and moves the container
    /// on: a key is noted, a sequence's index counted).
    fn next_path(&mut self, scalar: Option<&str>) -> Option<String> {
        let Some((base, open)) = self.open.last_mut() else {
            return Some(String::new());
        };
        match open {
            Open::Mapping { key, .. } => match key.take() {
                Some(k) => Some(join(base, &k)),
                None => {
                    *key = Some(scalar.unwrap_or_default().to_owned());
                    None
                }
            },
            Open::Sequence { next } => {
                *next += 1;
                Some(format!("{base}[{}]", *next - 1))
            }
        }
    }
}

fn join(base: &str, key: &str) -> String {
    match base.is_empty() {
        true => key.to_owned(),
        false => format!("{base}.{key}"),
    }
}

impl MarkedEventReceiver for Walk {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = (mark.line(), mark.col() + 1);
        // A mapping is placed at its first key: the parser marks a block mapping's start
        // where it found the key's colon.
        if let Some((path, Open::Mapping { key: None, placed })) = self.open.last_mut()
            && !*placed
        {
            self.found.insert(path.clone(), at);
            *placed = true;
        }
        match ev {
            Event::Scalar(value, ..) => {
                if let Some(path) = self.next_path(Some(&value)) {
                    self.found.insert(path, at);
                }
            }
            // An alias (`*name`) stands where a node would: placed here, its own nodes not.
            Event::Alias(_) => {
                if let Some(path) = self.next_path(None) {
                    self.found.insert(path, at);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = self.next_path(None).unwrap_or_default();
                let open = match ev {
                    Event::MappingStart(..) => Open::Mapping {
                        key: None,
                        placed: false,
                    },
                    _ => {
                        self.found.insert(path.clone(), at);
                        Open::Sequence { next: 0 }
                    }
                };
                self.open.push((path, open));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                // An empty mapping is placed where it ended.
                if let Some((path, Open::Mapping { placed: false, .. })) = self.open.pop() {
                    self.found.insert(path, at);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_found_by_path_at_their_line_and_column() {
        // Arrange
        let text = "name: x\nphases:\n  - name: prepare\n    traffic: 0\n  - name: shift\n    traffic: 5\n    gates: [ {runbook: done} ]\nrunbook:\n- id: a\n  depends_on: [b, c]\n";

        // Act
        let at = Positions::of(text);

        // Assert
        assert_eq!(at.at("name"), (1, 7));
        assert_eq!(at.at("phases[0].traffic"), (4, 14));
        assert_eq!(at.at("phases[1].name"), (5, 11));
        assert_eq!(at.at("phases[1].gates[0].runbook"), (7, 24));
        assert_eq!(at.at("phases[1].gates[0]"), (7, 15));
        assert_eq!(at.at("phases[1]"), (5, 5));
        assert_eq!(at.at("runbook[0].depends_on[1]"), (10, 19));
        assert_eq!(at.at("runbook[0].depends_on[7]"), (10, 15));
        assert_eq!(at.at("nowhere.at.all"), (1, 1));
    }

    #[test]
    fn an_alias_takes_its_place_and_the_nodes_after_it_keep_theirs() {
        // Arrange
        let text = "a: &x {b: 1}\nc: *x\nd: 2\n";

        // Act
        let at = Positions::of(text);

        // Assert
        assert_eq!(at.at("c"), (2, 4));
        assert_eq!(at.at("d"), (3, 4));
    }
}
