"""The report's sentences, each derived from its numbers (no AUC bands, no fixed verdicts).

Introduced in notebooks/07_audit_your_own_model.ipynb.
"""

CANNOT_SAY = [
    "A low average is not anonymity. AUC and the rates above are averages over records; a few "
    "records (see the most exposed list) can be identified even when the average looks harmless.",
    "These attacks give a lower bound on the leak, not an upper one: a stronger attack, more "
    "reference models or more queries may find more. Only differential privacy bounds every attack.",
    "A membership attack cannot prove that the model was trained on someone's data: a high score "
    "says the model treats the record like its training records, which a similar record, a "
    "duplicate or plain luck can also cause.",
    "Rates below the lowest resolvable FPR are not measured: with fewer than 10 possible false "
    "positives the sample cannot tell a rate from noise. Hold out more rows to measure lower.",
    "The report speaks for this model, these rows and this attacker. Another training run, other "
    "data or an attacker with other knowledge can leak more or less.",
]


def pct(x: float) -> str:
    """A rate as a percentage with one decimal (two below 1%).

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    return f"{100 * x:.2f}%" if x < 0.01 else f"{100 * x:.1f}%"


def statements(r: dict) -> dict:
    """The report's text from its numbers ``r`` (``AuditReport.numbers``): the threat model,
    which attack leads and why, a plain-language summary, what sets the exposed records
    apart, the DP context and what the report cannot say.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    t, d, op = r["threat_model"], r["data"], r["operating_fpr"]
    rate = r["tpr_at_fpr"][str(op)]
    low, high = rate["ci95"]
    access = ("the model's predicted probabilities (black-box)" if t["attacker"] == "black-box"
              else "the model's predicted labels only (label-only)")
    threat = [
        f"The attacker queries {access} for each candidate record: {d['n_members']} training rows "
        f"(members) and {d['n_non_members']} held-out rows (non-members).",
        f"It knows the candidates' features and labels, the model's type and settings, and trains "
        f"{t['n_references']} reference models of the same kind on random halves of the candidates "
        "(each record is in half of them: the online setting of Carlini et al. 2022, the strongest "
        "standard attacker)." if t["n_references"] else "It trains no reference models.",
        f"It assumes a share {t['prior']:g} of the people it queries are members (the prior)"
        + (f", out of a population of {t['population']:,}." if t["population"] else "."),
    ]
    resolvable = [k for k, v in r["tpr_at_fpr"].items() if v["resolvable"]]
    choice = (f"{r['strongest_attack']} leads the report: the highest TPR at {pct(op)} FPR (the lowest FPR "
              f"{d['n_non_members']} held-out rows resolve) of the {len(r['attacks'])} attacks run "
              f"({', '.join(r['attacks'])}); the others are in the tables below. The choice is made on the "
              "same rows it is reported on, so with several attacks the leader's rate is slightly "
              "optimistic: read the interval, not the point.")
    chance = low > op
    plain = [
        f"The strongest attack, {r['strongest_attack']}, names {pct(rate['tpr'])} of the training rows "
        f"(95% interval {pct(low)} to {pct(high)}) while wrongly flagging {pct(op)} of the rows the "
        "model never saw.",
        ("That is more than guessing gives (the interval's lower end is above the false positive "
         "rate): the model leaks which records it was trained on." if chance else
         "At this sample size that cannot be told apart from guessing (the interval reaches down to "
         "the false positive rate); it is not evidence that nothing leaks (see below)."),
    ]
    p = r["precision_at_prior"]
    plain.append(f"If {pct(t['prior'])} of the people queried are members, a flagged person is a member "
                 f"with probability {pct(p['precision'])} (95% interval {pct(p['ci95'][0])} to "
                 f"{pct(p['ci95'][1])})." + (
                     f" Among {t['population']:,} people that is about {p['members_found']:,.0f} members "
                     f"found and {p['wrongly_flagged']:,.0f} people wrongly flagged." if t["population"] else ""))
    a = r["accuracy"]
    plain.append(f"The model is right on {pct(a['train'])} of its training rows and {pct(a['heldout'])} of the "
                 f"held-out rows: a gap of {100 * a['gap']:.1f} points"
                 + (", the overfitting that attacks read." if a["gap"] > 0.02 else
                    "; a small gap does not mean a small leak for the most exposed records."))
    lower = [k for k, v in r["tpr_at_fpr"].items() if not v["resolvable"]]
    if lower:
        plain.append(f"Rates at {', '.join(pct(float(k)) for k in lower)} FPR are not resolvable with "
                     f"{d['n_non_members']} held-out rows (fewer than 10 possible false positives).")
    return {"threat_model": threat, "choice": choice, "plain_language": plain,
            "exposure": exposure_sentences(r), "dp": dp_sentence(r), "cannot_say": CANNOT_SAY,
            "resolvable_fprs": resolvable}


def exposure_sentences(r: dict) -> list[str]:
    """What sets the members flagged at the operating FPR apart from all members.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    f = r["exposure"]["flagged"]
    op = r["exposure"]["fpr"]
    out = [f"{f['n_flagged']} of {f['n_members']} training rows are flagged at {pct(op)} FPR."]
    if not f["n_flagged"]:
        return out
    out.append(f"The model gets {pct(f['wrong_flagged'])} of the flagged rows wrong, against "
               f"{pct(f['wrong_all'])} of all training rows; {pct(f['rare_flagged'])} of the flagged rows "
               f"have a rare value (more than 3 sd from the mean, or a value under 1% of rows share), "
               f"against {pct(f['rare_all'])} of all.")
    classes = ", ".join(f"{c}: {f['classes_flagged'][c]} of {f['classes_all'][c]}" for c in f["classes_all"])
    out.append(f"Flagged per class: {classes}.")
    apart = ", ".join(f"{x['feature']} ({x['sd_difference']:+.2f} sd)" for x in f["features_apart"])
    out.append(f"Where the flagged rows' mean differs most from all training rows: {apart}.")
    return out


def dp_sentence(r: dict) -> str:
    """The DP context: the declared ε and whether the measured TPR respects its bound.

    Introduced in notebooks/07_audit_your_own_model.ipynb."""
    dp = r["dp"]
    if dp is None:
        return ("The model declares no differential privacy guarantee (no epsilon_ attribute): nothing "
                "bounds what a stronger attack could find.")
    text = (f"The model declares (ε = {dp['epsilon']:.3g}, δ = {dp['delta']:.2g})-DP: no attack can exceed "
            f"TPR = e^ε · FPR + δ = {pct(dp['tpr_bound'])} at {pct(dp['fpr'])} FPR.")
    if dp["within_bound"]:
        return text + f" The measured {pct(dp['measured_tpr'])} is consistent with it (its interval reaches below it)."
    return text + (f" The measured {pct(dp['measured_tpr'])} exceeds it, even at its interval's lower end: "
                   "check the training and the accountant; the declared ε does not hold here.")
