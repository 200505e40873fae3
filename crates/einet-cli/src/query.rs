//! `einet query`: conditional and marginal log-probabilities of the rows of a file, as CSV or
//! JSON.

use std::path::PathBuf;

use anyhow::{Result, bail};
use einet::args::{RunArgs, positive_usize};
use einet::conditionals::{TargetLikelihood, target_log_likelihoods};
use einet::registry::value_names;
use einet::table::{Column, TableOptions, TableSchema, read_columns};
use einet::{Model, data_info, load_model};
use serde_json::json;

use crate::output::atomic_write;
use crate::sample::write_csv;

/// `einet query`.
#[derive(clap::Args, Debug)]
pub struct QueryArgs {
    /// The model file
    #[arg(long, short = 'm')]
    pub model: PathBuf,
    /// CSV file of rows: a header naming any of the model's variables in any order, or no
    /// header and every variable in order; missing values (empty, NA, ?, NaN) are
    /// marginalised
    #[arg(long, value_name = "FILE")]
    pub given: PathBuf,
    /// Target variables, comma-separated: a table's column names (or 1-based column
    /// numbers); x0, x1, … or 0-based indices for a model without a table. Every row needs
    /// their values; its other values are the evidence
    #[arg(long, value_name = "NAMES", value_delimiter = ',', required = true)]
    pub target: Vec<String>,
    /// Output file, .csv or .json [default: standard output]
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Output format [default: json for an --out file ending in .json, else csv]
    #[arg(long, value_enum)]
    pub format: Option<QueryFormat>,
    /// Rows per forward pass
    #[arg(long, default_value_t = 1000, value_parser = positive_usize, allow_hyphen_values = true)]
    pub batch_size: usize,
    /// Where to run.
    #[command(flatten)]
    pub run: RunArgs,
}

/// How `einet query` writes its answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryFormat {
    /// One line per row: row,line,the target values,log_p_target_given,log_p_given
    Csv,
    /// An object with the means and an array of one object per row
    Json,
}

/// Runs `einet query`.
pub fn run(args: &QueryArgs) -> Result<()> {
    let device = args.run.device()?;
    let einet = load_model(&args.model)?;
    let info = data_info(&einet, &args.model)?;
    let (num_vars, channels) = (einet.layout.num_vars, einet.layout.num_channels);
    if channels != 1 {
        bail!(
            "{}: einet query reads one value per variable, but the model has {channels} \
             channels per variable",
            args.model.display()
        );
    }
    let table = info.as_ref().and_then(|i| i.table.clone());
    let schema = table.clone().unwrap_or_else(|| numbered_schema(num_vars));
    let all = schema.names();
    let targets = target_vars(&args.target, table.as_ref(), &all)?;
    let (mut data, present) = read_columns(&args.given, &schema)?;
    if let Some(name) = targets.iter().find(|&&v| !present[v]).map(|&v| &all[v]) {
        let columns: Vec<String> = (0..num_vars)
            .filter(|&v| present[v])
            .map(|v| all[v].clone())
            .collect();
        bail!(
            "{}: the target '{name}' is not a column of the file (its columns are {})",
            args.given.display(),
            columns.join(", ")
        );
    }
    let scale = info.as_ref().map_or(1.0, |i| i.scale);
    if scale != 1.0 {
        data.values.iter_mut().for_each(|v| *v *= scale);
    }
    let mut model = Model::new(einet, device)?;
    let answers = target_log_likelihoods(&mut model, &data, &targets, args.batch_size)?;
    let lines = data.provenance.as_ref().map(|p| &p.lines);
    let text = |var: usize, value: f32| match &info {
        Some(i) => i.value_text(var, value),
        None => value.to_string(),
    };
    let names: Vec<String> = targets.iter().map(|&v| all[v].clone()).collect();
    let rows: Vec<Row> = answers
        .iter()
        .enumerate()
        .map(|(r, &answer)| Row {
            line: lines.as_ref().map_or(r + 1, |l| l[r]),
            values: targets.iter().map(|&v| text(v, data.row(r)[v])).collect(),
            answer,
        })
        .collect();
    let mean = |f: fn(&TargetLikelihood) -> f32| {
        answers.iter().map(|a| f64::from(f(a))).sum::<f64>() / answers.len() as f64
    };
    let means = [mean(|a| a.log_p_target_given), mean(|a| a.log_p_given)];
    match args.format.unwrap_or_else(|| default_format(args)) {
        QueryFormat::Json => write_json(args, &names, &rows, means)?,
        QueryFormat::Csv => write_answers_csv(args, &names, &rows)?,
    }
    if let Some(out) = &args.out {
        println!(
            "wrote {} ({} rows of {}; mean log p({} | given) {:.6}, mean log p(given) {:.6} \
             nats)",
            out.display(),
            rows.len(),
            args.given.display(),
            names.join(", "),
            means[0],
            means[1]
        );
    }
    Ok(())
}

/// One row's answer, with its file line and target values as the file writes them.
struct Row {
    line: usize,
    values: Vec<String>,
    answer: TargetLikelihood,
}

/// Writes the answers as one JSON object: the means and an array of one object per row.
fn write_json(args: &QueryArgs, names: &[String], rows: &[Row], means: [f64; 2]) -> Result<()> {
    let results: Vec<_> = rows
        .iter()
        .enumerate()
        .map(|(r, row)| {
            let target: serde_json::Map<_, _> = names
                .iter()
                .zip(&row.values)
                .map(|(n, v)| (n.clone(), json!(v)))
                .collect();
            json!({
                "row": r,
                "line": row.line,
                "target": target,
                "log_p_target_given": row.answer.log_p_target_given,
                "log_p_given": row.answer.log_p_given,
            })
        })
        .collect();
    let out = json!({
        "model": args.model,
        "given": args.given,
        "target": names,
        "rows": rows.len(),
        "mean_log_p_target_given": means[0],
        "mean_log_p_given": means[1],
        "results": results,
    });
    let text = serde_json::to_string_pretty(&out)?;
    match &args.out {
        Some(path) => atomic_write(path, |w| Ok(writeln!(w, "{text}")?)),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

/// Writes the answers as CSV: row,line,the target values,log_p_target_given,log_p_given.
fn write_answers_csv(args: &QueryArgs, names: &[String], rows: &[Row]) -> Result<()> {
    let mut header = vec!["row".to_string(), "line".to_string()];
    header.extend(names.iter().cloned());
    header.extend(["log_p_target_given".into(), "log_p_given".into()]);
    let lines: Vec<Vec<String>> = rows
        .iter()
        .enumerate()
        .map(|(r, row)| {
            let mut fields = vec![r.to_string(), row.line.to_string()];
            fields.extend(row.values.iter().cloned());
            fields.push(row.answer.log_p_target_given.to_string());
            fields.push(row.answer.log_p_given.to_string());
            fields
        })
        .collect();
    write_csv(args.out.as_deref(), &header, &lines)
}

/// JSON for an --out file ending in `.json`, else CSV.
fn default_format(args: &QueryArgs) -> QueryFormat {
    let json = args
        .out
        .as_ref()
        .and_then(|p| p.extension())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if json {
        QueryFormat::Json
    } else {
        QueryFormat::Csv
    }
}

/// The columns `x0, x1, …` of a model without a table ([`value_names`]).
fn numbered_schema(num_vars: usize) -> TableSchema {
    TableSchema {
        options: TableOptions::default(),
        header: true,
        fields: num_vars,
        columns: value_names(num_vars, 1)
            .into_iter()
            .enumerate()
            .map(|(j, name)| Column {
                name,
                position: j + 1,
                categories: Vec::new(),
                offset: 0.0,
            })
            .collect(),
    }
}

/// The variables `--target` names: by a table's names or 1-based column numbers
/// ([`TableSchema::require`]), else by `xN` or a 0-based index.
fn target_vars(
    given: &[String],
    table: Option<&TableSchema>,
    names: &[String],
) -> Result<Vec<usize>> {
    let mut vars: Vec<usize> = Vec::with_capacity(given.len());
    for name in given {
        let var = match table {
            Some(t) => t.require(name).map_err(anyhow::Error::msg)?,
            None => {
                let name = name.trim();
                match names.iter().position(|n| n == name) {
                    Some(v) => v,
                    None => match name.parse::<usize>() {
                        Ok(v) if v < names.len() => v,
                        _ => bail!(
                            "the model has no variable '{name}': name one as x0 … x{} or by \
                             its 0-based index",
                            names.len() - 1
                        ),
                    },
                }
            }
        };
        if vars.contains(&var) {
            bail!("--target names '{}' twice", names[var]);
        }
        vars.push(var);
    }
    Ok(vars)
}
