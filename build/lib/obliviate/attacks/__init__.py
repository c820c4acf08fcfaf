"""Robustness attacks: what brings "forgotten" knowledge back, run on every row alike.

    outcome = ATTACKS["quant4"].run(ctx, subject, row_items)     # attacks/run.py: forget scores after it

An attack is a function of (context, subject, the row's own forget items) returning an outcome:
the forget regurgitation and knowledge after the attack, on which prompts, and the per-item
generations. It acts on what is evaluated, never on the evaluator:

- weight attacks (`quant*`, `q*_0`, `nf4`, `fp4`, `int8`, `relearn*`) replace the plain model under
  every wrapper (`Subject.with_weights`), so an inference-time method's weights are attacked too;
- `probes` asks the same knowledge differently (paraphrases, aliases, two hops, mid-document
  completions, in-context examples, an affirmative prefix);
- `sample` draws k samples per forget prompt and scores the best (leak@k).

The unlearned score an outcome is compared with is the row's own score on the same prompts (its
main evaluation's items: greedy, unattacked), so no attack regenerates the row's plain answers.
Comparisons across rows (the fraction of the target's score restored, the excess over the oracle
under the same attack, the worst case) are pure functions of saved outcomes: `attacks/report.py`.
"""
