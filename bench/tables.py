"""The README's notebook tables, generated from the assignment folders and the measured times.

* "The notebooks": one row per assignment folder (its manifest's `teaches`) with its "Open in
  Colab" link, built from the one repository URL (`helpers.bootstrap.colab_url` of `REPO_URL`);
* "How long each notebook takes": the measured full-profile times on a CPU and on a GPU
  (`bench/reference/notebooks.json`, one place for those figures) next to each manifest's
  `time_targets_s`.

The same mechanism renders measured tables into the walkthroughs from the adopted benchmark
results in `bench/reference/` (`python -m bench.adopt`): `DOC_BLOCKS` says which document gets
which block from which file.

Each table sits between `<!-- table:NAME -->` and `<!-- /table:NAME -->` in its document.
`python -m bench.tables --write` rewrites them all; `--check` (and tests/test_quotes.py) fails when
a document disagrees with what the folders and the results files say.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from autograder import assignments  # noqa: E402
from helpers.bootstrap import colab_url  # noqa: E402

README = REPO / "README.md"
REFERENCE = REPO / "bench" / "reference"
TIMES = REFERENCE / "notebooks.json"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _seconds(run: dict) -> str:
    if not run or not run.get("seconds"):
        return "not measured"
    s = ", ".join(f"{x:g} s" for x in run["seconds"])
    return f"**{s}**" + (f" ({run['settings']})" if run.get("settings") else "")


def notebooks_table(course) -> str:
    rows = ["| # | notebook | what you build and learn | Colab |", "|---|---|---|---|"]
    rows += [f"| {a.order:02d} | `{a.id}` | {a.teaches} | [Open in Colab]({colab_url(a.id)}) |" for a in course]
    return "\n".join(rows)


def times_table(course, runs: dict, device: str, target: str) -> str:
    """Measured seconds and what the run produced, next to the manifest's `target` time."""
    rows = [f"| notebook | full profile, {device} | what the run produced | target |", "|---|---|---|---|"]
    for a in course:
        run = runs.get(a.id, {})
        text = (run.get("produced") or run.get("not_measured", "")) + (f" ({run['note']})" if run.get("note") else "")
        goal = a.time_targets_s.get(target)
        rows.append(f"| {a.id} | {_seconds(run)} | {text} | {_minutes(goal) if goal else '-'} |")
    return "\n".join(rows)


def tables(source_dir: Path = assignments.SOURCE_DIR, times_path: Path = TIMES) -> dict[str, str]:
    course = assignments.discover(source_dir)
    times = json.loads(Path(times_path).read_text())
    return {"notebooks": notebooks_table(course),
            "times-cpu": times_table(course, times["cpu"]["runs"], "2-core CPU", "full_cpu"),
            "times-gpu": times_table(course, times["gpu"]["runs"], "GPU", "full_gpu"),
            "times-smoke": smoke_table(course, times.get("smoke", {}))}


def smoke_table(course, smoke: dict) -> str:
    """One line: each notebook's smoke-profile seconds (notebooks.json's "smoke" run) and the target."""
    runs = smoke.get("runs", {})
    cells = [f"{a.id[:2]}: {_seconds(runs.get(a.id, {})).strip('*')}" for a in course]
    goal = max(a.time_targets_s.get("smoke", 0) for a in course)
    where = f" ({smoke['date']}, {smoke['machine']})" if smoke.get("date") else ""
    return ", ".join(cells) + f"; target {_minutes(goal)} each{where}."


def _pct(v: float) -> str:
    return f"{100 * v:.0f}%"


def _md(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(r) + " |" for r in rows])


def _source(ref: dict, name: str) -> str:
    return f"(`bench/reference/{name}.json`: `{ref['command']}`, {ref['date'][:10]}, {ref['machine'].split(' (')[0]})"


def conditioning_blocks(ref: dict) -> dict[str, str]:
    """Walkthrough 04: where the label enters the U-Net (python -m bench.conditioning)."""
    res = ref["result"]
    ws = [str(float(w)) for w in res["ws"]]
    # no wall times: the run's are not comparable between its rows (see the reference's note); its
    # point is the accuracies, which are seeded
    rows = [[r["model"], f"{r['parameters']:,}", f"{r['final_loss']:.4f}"]
            + [_pct(r["accuracy_by_w"][w]) for w in ws] for r in res["rows"]]
    header = (["where the label enters", "parameters", f"final loss ({res['rows'][0]['steps']:,} steps)"]
              + [f"MNIST judge, w = {float(w):g}" for w in ws])
    return {"conditioning": _md(header, rows) + "\n\n" + _source(ref, "conditioning")}


def _pct1(v: float) -> str:
    return f"{100 * v:.1f}%"


def assessment_blocks(ref: dict) -> dict[str, str]:
    """README's paragraph and walkthrough 06's tables of notebook 06's benchmark (python -m bench.assessment)."""
    r = ref["result"]
    first, final, cmp, sweep = r["time_to_gate"], r["final_gate"], r["ddpm_vs_ddim"], r["accuracy_vs_w"]
    ddpm = next(k for k in cmp if k.startswith("ddpm") and k[4:].isdigit())
    T = int(ddpm[4:])
    firsts = (f"**the gate first passes after {first['train_seconds']:.0f} s of training** (step {first['step']}, "
              f"{_pct1(first['accuracy'])})" if first else "**the gate never passed during training**")
    paragraph = (
        f"The assessment's own benchmark (`python -m bench.assessment`, part of `make bench`) trains 06's recipe "
        f"in a plain process and runs the full 1000-digit gate every 250 steps: {firsts}; the full "
        f"{r['recipe']['steps']} steps ({r['train_seconds']:.0f} s) give {_pct1(final['accuracy'])}. Drawing "
        f"{cmp['ddim25']['digits']} digits takes {cmp['ddim25']['seconds']:.0f} s with DDIM (25 steps) and "
        f"{cmp[ddpm]['seconds']:.0f} s with DDPM ({T} steps), {cmp['time_ratio_ddpm_over_ddim']:.1f}× as long, for "
        f"{_pct1(cmp['ddim25']['accuracy'])} vs {_pct1(cmp[ddpm]['accuracy'])} accuracy. Accuracy against w "
        f"({sweep[0].get('digits', cmp['ddim25']['digits'])} digits each): "
        + ", ".join(f"{_pct1(s['accuracy'])} at w = {s['w']:g}" for s in sweep)
        + f", while the mean diversity falls from {sweep[0]['diversity_mean_ratio']:.2f} to "
          f"{sweep[-1]['diversity_mean_ratio']:.2f} of real digits. Peak memory "
          f"{r['peak_memory']['rss_mb'] / 1024:.1f} GB resident. " + _source(ref, "assessment") + ".")
    steps = _md(["step", "training time", "gate accuracy"],
                [[str(c["step"]), f"{c['train_seconds']:.0f} s",
                  _pct1(c["accuracy"]) + (": **first pass**" if first and c["step"] == first["step"] else "")]
                 for c in r["gate_checks"]]
                + [[f"{r['recipe']['steps']} (full profile)", f"{r['train_seconds']:.0f} s",
                    f"**{_pct1(final['accuracy'])}** (95% CI {_pct1(final['ci'][0])}–{_pct1(final['ci'][1])})"]])
    ws = _md(["w"] + [f"{s['w']:g}" for s in sweep],
             [["judge accuracy"] + [_pct1(s["accuracy"]) for s in sweep],
              ["mean diversity vs real"] + [f"{s['diversity_mean_ratio']:.2f}" for s in sweep],
              ["lowest class diversity"] + [f"{s['diversity_min_ratio']:.2f}" for s in sweep]])
    src = _source(ref, "assessment")
    cmp_table = _md(["sampler", "digits", "time", "accuracy", "lowest class diversity"],
                    [["DDIM, 25 steps", str(cmp["ddim25"]["digits"]), f"{cmp['ddim25']['seconds']:.1f} s",
                      _pct1(cmp["ddim25"]["accuracy"]), f"{cmp['ddim25']['diversity_min_ratio']:.2f}"],
                     [f"DDPM, {T} ancestral steps", str(cmp[ddpm]["digits"]), f"{cmp[ddpm]['seconds']:.1f} s",
                      _pct1(cmp[ddpm]["accuracy"]), f"{cmp[ddpm]['diversity_min_ratio']:.2f}"]])
    return {"assessment": paragraph, "time-to-gate": steps + "\n\n" + src,
            "accuracy-vs-w": ws + "\n\n" + src,
            "ddpm-vs-ddim": cmp_table + f"\n\nDDPM/DDIM time ratio **{cmp['time_ratio_ddpm_over_ddim']:.1f}×** "
                            f"in this run; the whole benchmark took {r['total_seconds']:.0f} s. " + src}


def text_to_image_blocks(ref: dict) -> dict[str, str]:
    """Walkthrough 05: which context the text-to-image U-Net gets (python -m bench.text_to_image)."""
    r = ref["result"]
    ws = [str(float(w)) for w in r["ws"]]
    what = {"text": "text embedding (TODO 5 as is)",
            "shift": "text embedding shifted by mean(image emb) − mean(text emb) (Liang et al. 2022)",
            "prior k=1": "retrieval prior, k = 1 (one training photo's embedding)",
            "prior k=16": "**retrieval prior, k = 16** (the notebook)", "prior k=64": "retrieval prior, k = 64"}
    rows = [[what.get(row["context"], row["context"])]
            + [f"{_pct(row['judge_by_w'][w])} ({100 * row['clip_by_w'][w]:.0f})" for w in ws] for row in r["rows"]]
    table = _md(["context"] + [f"w = {float(w):g}" for w in ws], rows)
    setup = (f"{r['photos']} training photos; CLIP {r['clip_steps']} steps in {r['clip_train_s']:.0f} s, U-Net "
             f"{tuple(r['unet_chs'])} {r['diff_steps']} steps in {r['unet_train_s']:.0f} s; {r['per_prompt']} images "
             f"per prompt and w, flower judge (the notebook's CLIP in brackets)")
    cos = r.get("cos_text_prior_k16")
    gap = (f"\n\ncos(a prompt's text embedding, its k = 16 prior context): {min(cos):.2f}–{max(cos):.2f} over the "
           f"{len(cos)} demo prompts." if cos else "")
    return {"text-to-image": setup + ":\n\n" + table + gap + "\n\n" + _source(ref, "text_to_image")}


def flow_blocks(ref: dict) -> dict[str, str]:
    """Walkthrough 07: gate accuracy against network evaluations per digit (python -m bench.flow). A
    run's rows for a sampler replace those of earlier runs with the same recipe (a re-measured sampler)."""
    runs = [r for r in ref["runs"] if r["recipe"]["steps"] == ref["runs"][0]["recipe"]["steps"]]
    rows: dict[str, dict[int, dict]] = {}
    for run in runs:
        for sampler in {r["sampler"] for r in run["rows"]}:
            rows[sampler] = {r["nfe"]: r for r in run["rows"] if r["sampler"] == sampler}
    names = {"flow-euler": "flow, Euler", "flow-heun-plain": "flow, plain Heun (a Heun step into t = 0)",
             "flow-heun": "flow, Heun (Euler last step)", "ddpm-ddim": "06's DDPM, DDIM"}
    samplers = [s for s in names if s in rows]
    nfes = sorted({n for s in samplers for n in rows[s]})

    def cell(r):
        if r is None:
            return "–"
        why = "" if r["passed"] else (" (collapse)" if r["accuracy"] >= 0.95 and not r["diversity_ok"] else "")
        return f"{_pct1(r['accuracy'])} {'**pass**' if r['passed'] else 'fail'}{why}"

    table = _md(["NFE"] + [names[s] for s in samplers],
                [[str(n)] + [cell(rows[s].get(n)) for s in samplers] for n in nfes])
    smallest = {s: min((n for n, r in rows[s].items() if r["passed"]), default=None) for s in samplers}
    rec = runs[0]["recipe"]
    note = ("Smallest NFE that passes the gate: " + ", ".join(f"{names[s]} **{smallest[s] or 'none'}**" for s in samplers)
            + f". Recipe: {rec['steps']} training steps per model, widths {tuple(rec['chs'])}, batch {rec['batch']}, "
              f"w = {rec['w']:g}, {runs[0]['per_class'] * 10} digits per point through the gate's checks "
              f"(`bench/reference/flow.json`: " + "; ".join(f"`{r['command']}`, {r['date']}" for r in runs) + ").")
    return {"flow-nfe": table + "\n\n" + note}


def _only(fn, *names):
    return lambda ref: {k: v for k, v in fn(ref).items() if k in names}


# document -> (reference file name, renderer): the measured tables outside the README
DOC_BLOCKS = {
    "walkthroughs/04_Classifier_Free_Guidance_Walkthrough.md": [("conditioning", conditioning_blocks)],
    "walkthroughs/05_CLIP_Walkthrough.md": [("text_to_image", text_to_image_blocks)],
    "walkthroughs/07_Flow_Matching_Walkthrough.md": [("flow", flow_blocks)],
    "README.md": [("assessment", _only(assessment_blocks, "assessment"))],
    "walkthroughs/06_Assessment_DDPM_Walkthrough.md": [
        ("assessment", _only(assessment_blocks, "time-to-gate", "accuracy-vs-w", "ddpm-vs-ddim"))],
    "answers/06_Assessment_Answers.md": [("assessment", _only(assessment_blocks, "accuracy-vs-w"))],
}


def doc_blocks(reference: Path = REFERENCE) -> dict[str, dict[str, str]]:
    """{document: {block name: body}} for every document in DOC_BLOCKS."""
    out: dict[str, dict[str, str]] = {}
    for doc, parts in DOC_BLOCKS.items():
        for name, fn in parts:
            path = reference / f"{name}.json"
            if not path.is_file():
                raise SystemExit(f"{doc} quotes {path.relative_to(REPO)}, which is missing: run "
                                 f"`python -m bench.{name}`, then `python -m bench.adopt {name} --machine ...`")
            out.setdefault(doc, {}).update(fn(json.loads(path.read_text())))
    return out


def generated_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every generated block's body in `text` (what --write would rewrite)."""
    return [m.span(2) for m in re.finditer(r"<!-- table:([\w-]+) -->\n(.*?)<!-- /table:\1 -->", text, re.S)]


def render(text: str, generated: dict[str, str]) -> str:
    """`text` with every marked table replaced by its generated version."""
    for name, body in generated.items():
        pattern = re.compile(rf"(<!-- table:{name} -->\n)(?:.*?\n)?(<!-- /table:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"no <!-- table:{name} --> ... <!-- /table:{name} --> block in the document")
        text = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.tables", description=__doc__.split("\n\n")[0])
    p.add_argument("--write", action="store_true", help="rewrite the generated tables (README.md and DOC_BLOCKS' documents)")
    p.add_argument("--check", action="store_true", help="exit 1 when a generated table is stale")
    a = p.parse_args(argv)
    docs = {README: tables()}
    for d, b in doc_blocks().items():
        docs.setdefault(REPO / d, {}).update(b)
    stale = []
    for path, generated in docs.items():
        text = path.read_text()
        new = render(text, generated)
        if new != text:
            stale.append(path.relative_to(REPO))
            if a.write:
                path.write_text(new)
    if a.write:
        print("rewritten: " + (", ".join(map(str, stale)) if stale else "nothing, every table is up to date"))
    elif a.check:
        print("every generated table is up to date" if not stale else
              "stale tables in " + ", ".join(map(str, stale)) + ": run `python -m bench.tables --write`")
        return 1 if stale else 0
    else:
        print("\n\n".join(b for g in docs.values() for b in g.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
