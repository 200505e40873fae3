//! Structured JSON mutations shared by the fuzz tests of the model file and of the JSON
//! region graph: a node of the document (found by its position in a pre-order walk) is
//! replaced, removed, copied over another node, or grown by an element or an unknown key.

use einet_testsuite::fuzz::edge_u64;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};

/// One step from a JSON node to a child.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    At(usize),
}

/// One edit of a JSON document.
#[derive(Clone, Debug)]
pub enum JsonEdit {
    /// Replaces the node at a pre-order position with a value.
    Replace(Index, Value),
    /// Removes the node from its object or array (the whole document is kept).
    Remove(Index),
    /// Replaces the node at the second position with a copy of the node at the first.
    Copy(Index, Index),
    /// Appends a value to an array node, or adds it under the key `"fuzz"` to an object.
    Grow(Index, Value),
}

/// The paths of every node, in pre-order (the root first).
fn paths(value: &Value) -> Vec<Vec<Step>> {
    fn walk(value: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(path.clone());
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(Step::At(i));
                    walk(item, path, out);
                    path.pop();
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    path.push(Step::Key(key.clone()));
                    walk(item, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn node<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::At(i) => &mut v[*i],
    })
}

impl JsonEdit {
    /// Applies the edit to `doc`.
    pub fn apply_to(&self, doc: &mut Value) {
        let all = paths(doc);
        let path = |at: &Index| all[at.index(all.len())].as_slice();
        match self {
            JsonEdit::Replace(at, value) => *node(doc, path(at)) = value.clone(),
            JsonEdit::Remove(at) => {
                if let Some((last, parent)) = path(at).split_last() {
                    match (node(doc, parent), last) {
                        (Value::Object(map), Step::Key(k)) => {
                            map.remove(k);
                        }
                        (Value::Array(items), Step::At(i)) => {
                            items.remove(*i);
                        }
                        _ => unreachable!("a path steps into objects by key, arrays by index"),
                    }
                }
            }
            JsonEdit::Copy(from, to) => {
                let copy = node(doc, path(from)).clone();
                *node(doc, path(to)) = copy;
            }
            JsonEdit::Grow(at, value) => match node(doc, path(at)) {
                Value::Array(items) => items.push(value.clone()),
                Value::Object(map) => {
                    map.insert("fuzz".into(), value.clone());
                }
                _ => {}
            },
        }
    }
}

/// `doc` with `edits` applied in order.
pub fn edit_json(doc: &Value, edits: &[JsonEdit]) -> Value {
    let mut doc = doc.clone();
    edits.iter().for_each(|e| e.apply_to(&mut doc));
    doc
}

/// Values that JSON readers must refuse or handle: integers at the edges of every width,
/// negative and fractional numbers, strings, `null`, booleans and small containers.
pub fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => edge_u64().prop_map(Value::from),
        1 => proptest::sample::select(&[-1i64, i64::MIN][..]).prop_map(Value::from),
        1 => proptest::sample::select(&[0.5f64, -0.0, 1e300, 2.5e-8][..]).prop_map(Value::from),
        1 => proptest::sample::select(
            &["", "x", "cp", "tucker", "einet-model", "einet-region-graph", "bernoulli"][..]
        )
        .prop_map(Value::from),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(json!([])),
        1 => Just(json!({})),
        1 => Just(json!([0, 1])),
    ]
}

/// Any one [`JsonEdit`].
pub fn json_edit() -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        4 => (any::<Index>(), json_value()).prop_map(|(at, v)| JsonEdit::Replace(at, v)),
        2 => any::<Index>().prop_map(JsonEdit::Remove),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(from, to)| JsonEdit::Copy(from, to)),
        1 => (any::<Index>(), json_value()).prop_map(|(at, v)| JsonEdit::Grow(at, v)),
    ]
}

/// `lo..=hi` JSON edits.
pub fn json_edits(lo: usize, hi: usize) -> impl Strategy<Value = Vec<JsonEdit>> {
    proptest::collection::vec(json_edit(), lo..=hi)
}
