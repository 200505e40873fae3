//! `images.md`: the markdown report of the image experiments, from the entries of
//! `images.json` (this run's and earlier ones').

use einet::provenance::machine_line;
use serde_json::Value;

/// `v` with `digits` decimals, or a dash when it is not a number.
fn num(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "–".into(), |x| format!("{x:.digits$}"))
}

/// The markdown report of all entries.
pub fn markdown(entries: &[Value]) -> String {
    let mut s = String::new();
    s.push_str("## Image experiments (`einet-experiments images`)\n\n");
    s.push_str(
        "The paper's image experiments at CPU scale. MNIST: bits per \
         dimension of the discrete pixel values, `−LL / (784 · ln 2)`. CIFAR-10 subset (the \
         stand-in for SVHN, which is not available here): a mixture of EiNets over k-means \
         clusters; its log-likelihood is a continuous density of the pixels scaled to [0, 1] \
         (nats per image), and its bits/dim are of the same density on the 0..255 scale \
         (not dequantised, so not comparable with discrete bits/dim). The mixture \
         log-likelihood is `logsumexp_c(ln π_c + log p_c(x))`; the reference's \
         `EinetMixture.log_likelihood` subtracts `ln π_c` instead, which overstates it (its \
         value is listed for comparison).\n\n",
    );
    s.push_str(
        "| experiment | data | structure | K | leaves | epochs (best) | parameters | test LL \
         (nats/image) | bits/dim | train s | total s |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for e in entries {
        let best = e["best_epoch"]
            .as_u64()
            .map_or(String::new(), |b| format!(" ({b})"));
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {}{} | {} | {} | {} | {} | {} |\n",
            e["experiment"].as_str().unwrap_or(""),
            e["dataset"].as_str().unwrap_or(""),
            e["structure"].as_str().unwrap_or(""),
            e["k"],
            e["leaf"].as_str().unwrap_or(""),
            e["epochs"],
            best,
            e["params"],
            num(&e["test_ll"], 2),
            num(&e["bits_per_dim"], 4),
            num(&e["train_seconds"], 0),
            num(&e["seconds"], 0),
        ));
    }
    for e in entries {
        let id = e["experiment"].as_str().unwrap_or("");
        s.push_str(&format!("\n### {id}\n\n"));
        if let Some(p) = e.get("provenance") {
            s.push_str(&format!(
                "Run {} UTC on {}, commit {}{}: `{}`\n\n",
                p["started"].as_str().unwrap_or("?"),
                machine_line(p),
                p["commit"].as_str().unwrap_or("unknown"),
                // Entries from before commits were recorded with a `+changes` suffix flag
                // uncommitted changes separately.
                if e["uncommitted_changes"] == true {
                    " with uncommitted changes"
                } else {
                    ""
                },
                p["command"].as_str().unwrap_or("")
            ));
        }
        s.push_str(&notes(e));
        s.push_str(&format!(
            "Batch {}, EM {}. Test LL {} nats/image, {} bits/dim{}.\n\n",
            e["batch_size"],
            e["em"],
            num(&e["test_ll"], 2),
            num(&e["bits_per_dim"], 4),
            match e.get("test_ll_reference_formula") {
                Some(r) => format!(
                    " ({} nats/dim; the reference's formula would report {})",
                    num(&e["test_ll_per_dim"], 4),
                    num(r, 2)
                ),
                None => String::new(),
            }
        ));
        if let Some(comps) = e["components"].as_array() {
            s.push_str(
                "| cluster | train rows | π | selection rows | best epoch | selection LL |\n\
                 |---|---|---|---|---|---|\n",
            );
            for c in comps {
                s.push_str(&format!(
                    "| {} | {} | {} | {} ({}) | {} | {} |\n",
                    c["cluster"],
                    c["train_rows"],
                    num(&c["weight"], 4),
                    c["selection_rows"],
                    c["selection_split"].as_str().unwrap_or(""),
                    c["best_epoch"],
                    num(&c["valid_ll"], 1)
                ));
            }
            s.push('\n');
        }
        let images = &e["images"];
        let show = |key: &str, caption: &str| -> String {
            images[key].as_str().map_or(String::new(), |f| {
                format!("{caption}:\n\n![{id} {caption}]({f})\n\n")
            })
        };
        s.push_str(&show("samples", "Samples"));
        s.push_str(&show("samples_std1", "Samples with std_correction 1"));
        s.push_str(
            "Inpainting (each row: original | masked (red = hidden) | conditional sample | \
             MPE):\n\n",
        );
        s.push_str(&show("inpaint_top", "Top half hidden"));
        s.push_str(&show("inpaint_left", "Left half hidden"));
    }
    s
}

/// What an experiment changed from the reference's script, from its entry.
fn notes(e: &Value) -> String {
    let epochs = &e["epochs"];
    if e["experiment"] == "cifar-mixture" {
        let rows = &e["rows"];
        let axes = match e["structure_record"]["axes"].as_array() {
            Some(a) => {
                format!("cutting only axes {a:?} (the reference's script cuts columns only)")
            }
            None => "cutting both axes (the reference's script cuts columns only; \
                     `--cifar-axes 1` does that)"
                .into(),
        };
        format!(
            "Scaled down from the reference's SVHN recipe (`train_svhn_mixture.py`): the \
             CIFAR-10 subset, {} training and {} validation images (10 % of the 4000 training \
             images) instead of about 600,000 SVHN images; {} k-means++ clusters (best of 3 \
             runs, at most 100 Lloyd iterations) instead of 100; K = {}; Poon–Domingos Δ = 8 \
             {axes}; batch {} with a stepwise-EM step of 0.5 after every batch for {epochs} \
             epochs (the reference: batch 10, step 0.5 every 50 batches, 3 epochs, which would \
             give a cluster of a few hundred images less than one update per epoch); pixels \
             scaled to [0, 1] and not centred; each component keeps the epoch with the best \
             log-likelihood on the validation images nearest its centroid. π = cluster \
             shares. Samples: component drawn from π, then its sample. Inpainting: the \
             component with the largest π_c · p_c(visible part), its conditional sample \
             (std_correction 0) and its exact max-product MPE.\n\n",
            rows["train"], rows["valid"], e["clusters"], e["k"], e["batch_size"],
        )
    } else if e["experiment"] == "mnist-hclt-cat256" {
        format!(
            "A hidden Chow–Liu tree learned from the training images (mutual information of \
             a 10,000-image subsample, pixel values in 8 bins, pseudocount 0.1; rooted at the \
             tree's center), one latent variable with K = {} states per pixel, CP layers (a \
             `K × K` sum per pixel with children), Categorical(256) leaves — PyJuice's MNIST \
             HCLT. Stepwise EM on batches of {} with the step annealed from {} to {}, then \
             up to {} full-batch EM epochs, {} ended after 3 epochs without a better \
             validation LL ({epochs} epochs run); pseudocount {}; the validation part is a \
             random sixth of the training images. Inpainting as `einet inpaint` does it: one \
             conditional sample and the exact max-product MPE.\n\n",
            e["k"],
            e["batch_size"],
            e["em"]["step_size"],
            e["step_size_end"],
            e["full_batch_epochs"],
            if e["mini_batch_runs_all_epochs"] == true {
                "every mini-batch epoch run and the full-batch phase"
            } else {
                "each phase"
            },
            e["em"]["pseudocount"],
        )
    } else {
        let leaves = if e["leaf"]
            .as_str()
            .is_some_and(|l| l.starts_with("categorical"))
        {
            "Categorical(256) leaves (the reference's commented-out alternative to its \
             Binomial(255)), which give every pixel value its own probability"
        } else {
            "Binomial(255) leaves, as there; they fit MNIST's mostly black-or-white pixels \
             poorly (a pixel that is 0 in some images and 255 in others under the same leaf \
             state costs up to 255 · ln 2 nats), so these bits/dim are far above those of \
             models built for likelihood (the reference's demo reports samples, not \
             likelihoods)"
        };
        format!(
            "Settings of the reference's `demo_mnist.py` (K = {}, batch {}, stepwise EM step \
             0.05 after every batch) but all ten digits instead of the 7s only, and {}; the \
             validation part is a random sixth of the training images. {leaves}. Inpainting \
             as `einet inpaint` does it: one conditional sample (the reference averages 10) and \
             the exact max-product MPE (the reference's MPE is its approximate arg-max \
             backtracking).\n\n",
            e["k"],
            e["batch_size"],
            if e["epochs"] == 5 {
                "5 epochs as there".to_string()
            } else {
                format!("{epochs} epochs instead of 5")
            },
        )
    }
}
