//! `einet mpe`: most probable completions of data rows with hidden variables, as CSV.

use anyhow::{Context, Result};

use crate::MpeArgs;
use crate::eval::model_and_data;
use crate::sample::{text_rows, write_csv};
use einet::HideSpec;
use einet::mask::apply;

/// Runs `einet mpe`.
pub fn run(args: &MpeArgs) -> Result<()> {
    let device = args.run.device()?;
    let (einet, loaded) = model_and_data(&args.data.source, &[args.data.split])?;
    let info = &loaded.info;
    let data = loaded.part(args.data.split);
    let n = args.n.min(data.rows());
    let hide = args
        .hide
        .clone()
        .unwrap_or_else(|| HideSpec::default_for(info));
    let masks = hide.masks(info, n, args.seed)?;
    let mut evidence = data.values[..n * data.row_len()].to_vec();
    for (row, mask) in evidence.chunks_exact_mut(data.row_len()).zip(&masks) {
        apply(row, mask, info.channels);
    }
    let mut model = device.load(&einet)?;
    let completed = model
        .mpe(&evidence, args.mpe.kind())
        .context("MPE failed")?;
    let mut header = vec!["row".to_string()];
    header.extend(info.column_names());
    let rows: Vec<Vec<String>> = text_rows(&completed, info)
        .into_iter()
        .enumerate()
        .map(|(i, r)| std::iter::once(i.to_string()).chain(r).collect())
        .collect();
    write_csv(args.out.as_deref(), &header, &rows)?;
    if let Some(out) = &args.out {
        let hidden: usize = masks.iter().map(|m| m.iter().filter(|&&b| b).count()).sum();
        println!(
            "wrote {} ({n} rows of {} {}, {hidden} of {} variables completed)",
            out.display(),
            loaded.spec,
            args.data.split,
            n * info.num_vars
        );
    }
    Ok(())
}
