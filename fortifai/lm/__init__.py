"""Language-model plumbing, used by Algorithm 1 (:mod:`fortifai.recursive`) and by the KR-test and losses chapters
without it: text sources as paragraphs (:mod:`.corpus`, with :mod:`.counterfactual` leads), documents to training
blocks (:mod:`.lmdata`), models by one name (:mod:`.models`), small models pretrained from scratch
(:mod:`.pretrain`), and the regeneration's beam search (:mod:`.decoding`)."""
