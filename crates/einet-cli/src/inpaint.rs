//! `einet inpaint`: conditional samples and MPE completions of partly hidden images.

use anyhow::{Context, Result, bail};

use crate::InpaintArgs;
use crate::eval::model_and_data;
use crate::hide::apply;
use crate::image_grid::{auto_scale, grid, write_png};
use crate::sample::tiles;

/// Colour of hidden pixels in the "masked" column.
const HIDDEN: [u8; 3] = [220, 30, 30];

/// Runs `einet inpaint`.
pub fn run(args: &InpaintArgs) -> Result<()> {
    args.run.init()?;
    if !(args.std_correction >= 0.0 && args.std_correction.is_finite()) {
        bail!("--std-correction must be a number >= 0");
    }
    let (einet, loaded) = model_and_data(&args.data)?;
    let info = &loaded.info;
    let Some([h, w]) = info.image_shape else {
        bail!(
            "inpainting needs image data, but '{}' is tabular; use `einet mpe` for tabular data",
            loaded.spec
        );
    };
    let data = loaded.part(args.data.split);
    let n = args.n.min(data.rows());
    let masks = args.hide.masks(info, n, args.seed)?;
    let original = data.values[..n * data.row_len()].to_vec();
    let mut evidence = original.clone();
    for (row, mask) in evidence.chunks_exact_mut(data.row_len()).zip(&masks) {
        apply(row, mask, info.channels);
    }
    let mut model = args.run.load(&einet)?;
    let sampled = model
        .sample_conditional(&evidence, args.seed, args.std_correction)
        .context("conditional sampling failed")?;
    let mpe = model
        .mpe(&evidence, args.mpe.kind())
        .context("MPE failed")?;
    let [orig, cond, best] = [&original, &sampled, &mpe].map(|v| tiles(v, n, info));
    let (orig, cond, best) = (orig?, cond?, best?);
    let mut all = Vec::with_capacity(4 * n);
    for i in 0..n {
        all.push(orig[i].clone());
        all.push(orig[i].paint(&masks[i], HIDDEN));
        all.push(cond[i].clone());
        all.push(best[i].clone());
    }
    let image = grid(&all, 4, args.scale.unwrap_or_else(|| auto_scale(h, w)))?;
    write_png(&args.out, &image)?;
    let hidden: usize = masks.iter().map(|m| m.iter().filter(|&&b| b).count()).sum();
    println!(
        "wrote {} ({n} rows of {} {}: original | masked | conditional sample | MPE; {} of {} \
         pixels hidden)",
        args.out.display(),
        loaded.spec,
        args.data.split,
        hidden,
        n * info.num_vars
    );
    Ok(())
}
