//! The JSON file format for user-supplied region graphs.
//!
//! The format is documented on [`RegionGraphJson`] (this module is private, so its docs are
//! not rendered); it is read by [`RegionGraph::from_json_str`] and written by
//! [`RegionGraph::to_json_string`].

use serde::{Deserialize, Serialize};

use super::{RegionGraph, RegionId};
use crate::error::StructureError;

/// Serialised form of a region graph: the JSON region-graph format, version 1.
///
/// A region graph is a JSON object with a format tag, a version, the number of variables,
/// the regions (each a scope and an optional replica index, default 0) and the partitions
/// (each a parent region and its two child regions, by position in `regions`):
///
/// ```json
/// {
///   "format": "einet-region-graph",
///   "version": 1,
///   "num_vars": 2,
///   "regions": [
///     {"scope": [0, 1]},
///     {"scope": [0], "replica": 0},
///     {"scope": [1]}
///   ],
///   "partitions": [
///     {"region": 0, "children": [1, 2]}
///   ]
/// }
/// ```
///
/// Reading validates the graph exactly like [`RegionGraph::new`]: one root covering
/// `0..num_vars`, a DAG, binary, decomposable and smooth partitions, every region reachable.
/// Unknown fields are rejected, so a misspelt key is an error rather than silently ignored.
/// Writing lists regions and partitions by id, one per line, so that reading a written graph
/// gives back exactly the same graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionGraphJson {
    /// Always `"einet-region-graph"`.
    pub format: String,
    /// Format version; this einet reads version 1.
    pub version: u32,
    /// Number of variables; the root's scope must be `0..num_vars`.
    pub num_vars: usize,
    /// The regions; a region's id is its position in this list.
    pub regions: Vec<RegionJson>,
    /// The partitions; a partition's id is its position in this list.
    pub partitions: Vec<PartitionJson>,
}

/// One region of a [`RegionGraphJson`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionJson {
    /// The region's variables (any order, no duplicates).
    pub scope: Vec<u32>,
    /// Replica (repetition) index; 0 when absent.
    #[serde(default)]
    pub replica: u32,
}

/// One partition of a [`RegionGraphJson`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionJson {
    /// The region this partition splits.
    pub region: RegionId,
    /// Its child regions (exactly two for a valid graph).
    pub children: Vec<RegionId>,
}

/// Just the header, read first so that a wrong format or version is reported as such
/// rather than as an unknown or missing field.
#[derive(Deserialize)]
struct Header {
    format: String,
    version: u32,
}

impl RegionGraphJson {
    /// The value of the `"format"` field.
    pub const FORMAT: &'static str = "einet-region-graph";
    /// The (only) version of the format that this einet reads and writes.
    pub const VERSION: u32 = 1;

    /// The serialised form of a graph.
    pub fn from_graph(graph: &RegionGraph) -> Self {
        RegionGraphJson {
            format: Self::FORMAT.to_owned(),
            version: Self::VERSION,
            num_vars: graph.num_vars(),
            regions: graph
                .regions()
                .iter()
                .map(|r| RegionJson {
                    scope: r.scope.clone(),
                    replica: r.replica,
                })
                .collect(),
            partitions: graph
                .partitions()
                .iter()
                .map(|p| PartitionJson {
                    region: p.parent,
                    children: p.children.clone(),
                })
                .collect(),
        }
    }

    /// Checks the format tag and version, then builds and validates the graph.
    pub fn into_graph(self) -> Result<RegionGraph, StructureError> {
        check_header(&self.format, self.version)?;
        let (scopes, replicas) = self
            .regions
            .into_iter()
            .map(|r| (r.scope, r.replica))
            .unzip();
        let partitions = self
            .partitions
            .into_iter()
            .map(|p| (p.region, p.children))
            .collect();
        RegionGraph::new(self.num_vars, scopes, replicas, partitions)
    }
}

fn check_header(format: &str, version: u32) -> Result<(), StructureError> {
    const FORMAT: &str = RegionGraphJson::FORMAT;
    const VERSION: u32 = RegionGraphJson::VERSION;
    if format != FORMAT {
        return Err(StructureError::Json(format!(
            "\"format\" is {format:?}, expected {FORMAT:?}; this is not an einet region graph"
        )));
    }
    if version != VERSION {
        return Err(StructureError::Json(format!(
            "format version {version} is not supported; this einet reads version {VERSION}"
        )));
    }
    Ok(())
}

impl RegionGraph {
    /// The graph in the JSON region-graph format, one region or partition per line.
    pub fn to_json_string(&self) -> String {
        let json = RegionGraphJson::from_graph(self);
        let regions: Vec<String> = json.regions.iter().map(line).collect();
        let partitions: Vec<String> = json.partitions.iter().map(line).collect();
        let list = |items: &[String]| {
            if items.is_empty() {
                "[]".to_owned()
            } else {
                format!("[\n    {}\n  ]", items.join(",\n    "))
            }
        };
        format!(
            "{{\n  \"format\": {},\n  \"version\": {},\n  \"num_vars\": {},\n  \"regions\": {},\n  \"partitions\": {}\n}}\n",
            line(&json.format),
            json.version,
            json.num_vars,
            list(&regions),
            list(&partitions),
        )
    }

    /// Parses and validates a graph in the JSON region-graph format.
    ///
    /// Syntax errors and missing or unknown fields give [`StructureError::Json`] with the line
    /// and column; an invalid graph gives the matching [`StructureError`].
    pub fn from_json_str(text: &str) -> Result<RegionGraph, StructureError> {
        let parse_error = |e: serde_json::Error| StructureError::Json(e.to_string());
        let header: Header = serde_json::from_str(text).map_err(parse_error)?;
        check_header(&header.format, header.version)?;
        let json: RegionGraphJson = serde_json::from_str(text).map_err(parse_error)?;
        json.into_graph()
    }
}

/// Compact one-line JSON of one piece of [`RegionGraph::to_json_string`].
fn line<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("region-graph JSON pieces always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
      "format": "einet-region-graph",
      "version": 1,
      "num_vars": 2,
      "regions": [
        {"scope": [0, 1]},
        {"scope": [0], "replica": 0},
        {"scope": [1]}
      ],
      "partitions": [
        {"region": 0, "children": [1, 2]}
      ]
    }"#;

    #[test]
    fn the_documented_example_parses_and_round_trips() {
        let g = RegionGraph::from_json_str(EXAMPLE).unwrap();
        assert_eq!(g.num_vars(), 2);
        assert_eq!(g.root(), 0);
        assert_eq!(g.partitions()[0].children, [1, 2]);
        let text = g.to_json_string();
        assert_eq!(RegionGraph::from_json_str(&text).unwrap(), g);
    }

    #[test]
    fn wrong_format_and_version_are_named() {
        let other = EXAMPLE.replace("einet-region-graph", "something-else");
        let err = RegionGraph::from_json_str(&other).unwrap_err();
        assert!(
            matches!(&err, StructureError::Json(m) if m.contains("something-else")),
            "{err}"
        );
        let newer = EXAMPLE.replace("\"version\": 1", "\"version\": 2");
        let err = RegionGraph::from_json_str(&newer).unwrap_err();
        assert!(
            matches!(&err, StructureError::Json(m) if m.contains("version 2")),
            "{err}"
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let typo = EXAMPLE.replace("\"replica\"", "\"replicas\"");
        let err = RegionGraph::from_json_str(&typo).unwrap_err();
        assert!(
            matches!(&err, StructureError::Json(m) if m.contains("replicas") && m.contains("line 7")),
            "{err}"
        );
    }
}
