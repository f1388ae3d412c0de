"""The chapters' analyses: what a chapter computes from the layers below (runs, the KR-test, the claims) into its
tables and figures, one module per chapter that needs more than a call or two. They sit on top: nothing in the
package imports them, only the notebooks.

- :mod:`.llm_results`: the language-model results chapter (runs by setting, gates, failure, the closing claims);
- :mod:`.regime`: its regime section (the calibration table and figure, the choice, the speed table);
- :mod:`.kr_test`: the KR-test chapter (questions, scores, accuracy by kind);
- :mod:`.losses`: the losses chapter (curves against p_t, the bigram model's mask, identities, tables).
"""
