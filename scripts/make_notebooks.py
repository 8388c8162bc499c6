"""Write the stage notebooks in notebooks/ (run after editing this file; the .ipynb are committed).

``python scripts/make_notebooks.py --golden`` also executes them with their smoke defaults and
stores the outputs of the golden cells, which nbval compares.

Notebooks stay thin: one cell tagged ``parameters`` with literal smoke-run defaults, a cell of
derived values, then calls into ``neuron`` and plots. Cells whose first line is
``# NBVAL_CHECK_OUTPUT`` are golden cells that nbval compares.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
SMOKE = '''config = {
    "name": "smoke",
    "seed": 0,
    "data": {"dataset": "utd_mhad", "split": "utd_mhad_smoke", "split_index": 0, "pseudo_unseen": 1},
    "encoder": {"epochs": 1, "batch_size": 32, "lr": 0.05, "steps": [1]},
    "neuron_train": {"epochs": 2, "batch_size": 32, "lr": 0.1, "steps": [1]},
    "baseline_train": {"epochs": 2, "batch_size": 32, "lr": 0.1, "steps": [1]},
    "side_info": {"source": "shipped", "encoder": "all-MiniLM-L6-v2"},
}
run_dir = "runs/notebook_smoke/default/utd_mhad_smoke_0/seed0"
force = True  # a standalone smoke run may overwrite its own folder
progress = False'''

DERIVED = '''%matplotlib inline
import warnings
from pathlib import Path

import pandas as pd
from IPython.display import display

import neuron.analysis as na
from neuron import stages
from neuron.config import PROJECT_ROOT, load_run_config, to_dict
from neuron.manifest import write_manifest

warnings.filterwarnings("ignore", category=UserWarning)
cfg = load_run_config(config)
run_dir = Path(run_dir) if Path(run_dir).is_absolute() else PROJECT_ROOT / run_dir
run_dir.mkdir(parents=True, exist_ok=True)
figures = run_dir / "figures"
manifest = write_manifest(run_dir, cfg, force=force)
device = stages.setup_torch(cfg)
print(f"run {cfg.name}: {cfg.data.dataset} split {cfg.data.split}#{cfg.data.split_index}, "
      f"seed {cfg.seed}, device {device}")'''


def params_cell(src: str):
    c = new_code_cell(src)
    c.metadata["tags"] = ["parameters"]
    return c


def nb(title: str, intro: str, cells: list, params: str = SMOKE, derived: str = DERIVED):
    book = new_notebook()
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.metadata["language_info"] = {"name": "python"}
    book.cells = [new_markdown_cell(f"# {title}\n\n{intro}"), params_cell(params),
                  new_code_cell(derived)] + [
        new_markdown_cell(c[3:]) if c.startswith("md:") else new_code_cell(c) for c in cells]
    return book


DATA = nb("1. Data preparation", "Builds (or loads from the cache) the processed dataset and the "
          "run's zero-shot split; shows class counts, sequence lengths and one skeleton per class. "
          "Layout at the data boundary: `(N, C, T, V, M)` = samples, xyz (metres), frames, joints, persons.", [
    "bundle = stages.stage_data(cfg)\nsummary = stages.data_summary(bundle)\n"
    "write_manifest(run_dir, cfg, extra={'data': summary})\n"
    "pd.Series({k: v for k, v in summary.items() if k != 'skipped'}).to_frame('value')",
    "# NBVAL_CHECK_OUTPUT\nprint({k: summary[k] for k in ('samples', 'train', 'val', 'test', 'test_unseen')})\n"
    "print('seen', summary['seen'], 'unseen', summary['unseen'], 'skipped files', len(summary['skipped']))",
    "md:## Classes and split",
    "sp, pd_ = bundle.split, bundle.pdata\n"
    "fig = na.plot_class_counts({'train': pd_.labels[sp.train], 'val': pd_.labels[sp.val], "
    "'test': pd_.labels[sp.test]}, pd_.class_names, sp.unseen)\n"
    "na.save_figure(fig, figures / 'class_counts'); display(fig)",
    "fig = na.plot_length_histogram(pd_.lengths)\nna.save_figure(fig, figures / 'lengths'); display(fig)",
    "md:## One skeleton per class (middle frame)",
    "import numpy as np\nfirst = [int(np.flatnonzero(pd_.labels == c)[0]) for c in range(pd_.num_classes) "
    "if (pd_.labels == c).any()]\n"
    "fig = na.plot_skeleton_grid([pd_.data[i] for i in first], [pd_.lengths[i] for i in first], "
    "[pd_.class_names[pd_.labels[i]] for i in first], pd_.layout.edges)\n"
    "na.save_figure(fig, figures / 'skeletons'); display(fig)",
])

SIDE = nb("2. Side information and text embeddings", "Loads the side information chosen by "
          "`side_info.source` (descriptions from a multi-turn LLM dialogue: spatial coarse / medium / fine, "
          "temporal phases 1 / 1-2 / 1-3), embeds it with `side_info.encoder` (cached by encoder id and "
          "text hash) and shows whether the classes are separable in text space.", [
    "bundle = stages.stage_data(cfg)\nsem = stages.stage_side_info(cfg, bundle, device=str(device))\n"
    "write_manifest(run_dir, cfg, extra={'side_info': {'source': sem.source, 'encoder': sem.encoder_id, "
    "'dim': sem.dim}})",
    "# NBVAL_CHECK_OUTPUT\nprint('spatial', [tuple(x.shape) for x in sem.spatial])\n"
    "print('temporal', [tuple(x.shape) for x in sem.temporal])",
    "md:## Example descriptions (first unseen class)",
    "examples = stages.side_info_examples(cfg, bundle, bundle.split.unseen[0], n=3)\n"
    "pd.set_option('display.max_colwidth', 200)\nexamples",
    "md:## Class-by-class similarity in text space",
    "fig = na.plot_class_similarity(sem.class_means(), bundle.class_names, bundle.split.unseen)\n"
    "na.save_figure(fig, figures / 'class_similarity'); display(fig)",
])

ENCODER = nb("3. Encoder pre-training", "Pre-trains Shift-GCN (Cheng et al., CVPR 2020) with "
             "cross-entropy on the split's seen classes; validation accuracy is on held-out seen-class "
             "samples of the training subjects. The checkpoint is cached by everything it depends on "
             "and resumes after an interruption.", [
    "bundle = stages.stage_data(cfg)\n"
    "encoder, history, enc_dir = stages.stage_encoder(cfg, bundle, device, progress=progress)\n"
    "write_manifest(run_dir, cfg, extra={'encoder': str(enc_dir)})\n"
    "pd.DataFrame(history).round(4).tail(10)",
    "fig = na.plot_curves(history, ['loss', 'val_acc'])\nna.save_figure(fig, figures / 'encoder_curves'); display(fig)",
    "print(f\"final seen-class validation accuracy: {history[-1].get('val_acc', float('nan')):.1f}% "
    "after {len(history)} epochs\")",
])

NEURON = nb("4. Neuron training and zero-shot evaluation", "Trains Neuron on frozen encoder "
            "features of the seen classes (and the global-alignment baseline in the same harness), then "
            "evaluates ZSL (unseen classes only) and GZSL (all classes, calibrated stacking). The "
            "**honest** protocol uses one fused prediction per sample, the centred test crop, the final "
            "epoch and a calibration constant chosen on validation data; the **paper** protocol (the "
            "official code's) counts a sample right if either head is right and picks the constant on the "
            "test set. Both are shown so the gap is visible.", [
    "import torch\nbundle = stages.stage_data(cfg)\nsem = stages.stage_side_info(cfg, bundle, device=str(device))\n"
    "encoder, _, enc_dir = stages.stage_encoder(cfg, bundle, device, progress=progress)\n"
    "feats = stages.stage_features(cfg, bundle, encoder, enc_dir, device, progress=progress)\n"
    "metrics = stages.stage_neuron(cfg, bundle, sem, feats, run_dir, device, progress=progress, force=force)",
    "md:## Results",
    "table = stages.results_table(metrics)\ntable",
    "# NBVAL_CHECK_OUTPUT\nprint(sorted(k for k in metrics['neuron'] if k.startswith('honest/')))",
    "fig = na.plot_curves(metrics['neuron_history'], ['loss'])\nna.save_figure(fig, figures / 'neuron_curves'); display(fig)",
    "md:## Unseen classes: confusion matrix and per-class accuracy",
    "scores = stages.load_scores(run_dir)\ncm, per_class = stages.unseen_confusion(scores, bundle.split.unseen)\n"
    "names = [bundle.class_names[c] for c in bundle.split.unseen]\n"
    "fig = na.plot_confusion(cm, names, title='Neuron, unseen classes (ZSL)')\n"
    "na.save_figure(fig, figures / 'confusion_unseen'); display(fig)",
    "pd.DataFrame({'class': names, 'accuracy %': [per_class[c] for c in bundle.split.unseen]})",
    "md:## Evolving representations (paper Fig. 4 and 5)",
    "um = scores['unseen_mask']\nif scores['spatial_reps']:\n"
    "    fig = na.plot_tsne_rounds([r[um] for r in scores['spatial_reps']], scores['labels'][um], bundle.class_names, "
    "'Spatial, round', seed=cfg.seed)\n    na.save_figure(fig, figures / 'tsne_spatial'); display(fig)\n"
    "if scores['temporal_reps']:\n"
    "    fig = na.plot_tsne_rounds([r[um] for r in scores['temporal_reps']], scores['labels'][um], bundle.class_names, "
    "'Temporal, round', seed=cfg.seed)\n    na.save_figure(fig, figures / 'tsne_temporal'); display(fig)",
    "fig = na.plot_compactness(metrics['compactness'])\nna.save_figure(fig, figures / 'compactness'); display(fig)\n"
    "pd.DataFrame(metrics['compactness']).rename_axis('round').round(4)",
    "if scores['temporal_prototypes']:\n"
    "    fig = na.plot_prototype_heatmaps([q[0] for q in scores['temporal_prototypes']])\n"
    "    na.save_figure(fig, figures / 'temporal_prototypes'); display(fig)",
])

SUMMARY_PARAMS = '''study_dir = "runs/notebook_smoke"
report_dir = "runs/notebook_smoke/report"
study_name = "smoke"
description = ""
figures = False'''
SUMMARY_DERIVED = '''%matplotlib inline
import warnings
from pathlib import Path

import pandas as pd
from IPython.display import display

import neuron.analysis as na
from neuron.config import PROJECT_ROOT
from neuron.pipeline import collect_results
from neuron.stages import summarise_study

warnings.filterwarnings("ignore", category=UserWarning)
study_dir = Path(study_dir) if Path(study_dir).is_absolute() else PROJECT_ROOT / study_dir
report_dir = Path(report_dir) if Path(report_dir).is_absolute() else PROJECT_ROOT / report_dir
rows = collect_results(study_dir)
print(f"study {study_name}: {len(rows)} result rows from {study_dir.name}")'''

SUMMARY = nb("5. Study summary", "Aggregates every run of the study: mean and standard deviation over "
             "splits and seeds, per point (grid value or variant) and method, honest and paper protocols side "
             "by side. Written as HTML (this report), `results.csv` and `results.json`.", [
    "if description:\n    print(description)\nsummary = summarise_study(rows, report_dir, study_name, study_dir)\n"
    "summary['table']",
    "# NBVAL_CHECK_OUTPUT\nprint(sorted(summary['files']))",
    "for name, fig in summary['figures'].items():\n    display(fig)",
], params=SUMMARY_PARAMS, derived=SUMMARY_DERIVED)

BOOKS = {"01_data": DATA, "02_side_info": SIDE, "03_encoder": ENCODER, "04_neuron": NEURON,
         "05_summary": SUMMARY}


def store_golden(path: Path) -> None:
    """Execute ``path`` with its smoke defaults and keep only the golden cells' outputs."""
    import tempfile

    import papermill as pm

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / path.name
        pm.execute_notebook(str(path), str(out), cwd=str(ROOT), progress_bar=False, kernel_name="python3")
        done = nbformat.read(str(out), as_version=4)
    book = nbformat.read(str(path), as_version=4)
    for cell, ran in zip(book.cells, [c for c in done.cells if "injected-parameters" not in
                                      c.metadata.get("tags", [])]):
        if cell.cell_type == "code" and cell.source.startswith("# NBVAL_CHECK_OUTPUT"):
            cell.outputs = ran.outputs
            cell.execution_count = ran.execution_count or 1
    nbformat.write(book, str(path))


if __name__ == "__main__":
    import sys

    for name, book in BOOKS.items():
        nbformat.validate(book)
        nbformat.write(book, str(ROOT / "notebooks" / f"{name}.ipynb"))
    if "--golden" in sys.argv:  # needs the real data (NEURON_DATA_ROOT) and a few minutes
        for name in BOOKS:
            store_golden(ROOT / "notebooks" / f"{name}.ipynb")
            print("golden outputs stored:", name)
    print("notebooks written")
