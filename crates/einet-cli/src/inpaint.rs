//! `einet inpaint`: conditional samples and MPE completions of partly hidden images.

use anyhow::{Result, bail};
use einet::ErrorContext;
use einet::images::{auto_scale, write_inpainting_grid};

use crate::InpaintArgs;
use crate::eval::model_and_data;

/// Runs `einet inpaint`.
pub fn run(args: &InpaintArgs) -> Result<()> {
    let device = args.run.device()?;
    if !(args.std_correction >= 0.0 && args.std_correction.is_finite()) {
        bail!("--std-correction must be a number >= 0");
    }
    let (einet, loaded) = model_and_data(&args.data.source, &[args.data.split])?;
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
    let scale = args.scale.unwrap_or_else(|| auto_scale(h, w));
    write_inpainting_grid(data, info, &masks, scale, &args.out, |evidence| {
        let mut model = device.load(&einet)?;
        let sampled = model
            .sample_conditional(evidence, args.seed, args.std_correction)
            .context("conditional sampling failed")?;
        let mpe = model.mpe(evidence, args.mpe.kind()).context("MPE failed")?;
        Ok((sampled, mpe, ()))
    })?;
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
