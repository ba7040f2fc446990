"""Caption keys: captions share a key exactly when the model sees the same token ids."""
from __future__ import annotations

import pandas as pd
from transformers import AutoTokenizer

from audit import api
from audit.scoring.keys import KeyStage

LONG = " ".join(f"w{i}" for i in range(100))


def test_keys_follow_the_truncated_token_ids_and_counts_match_the_scorer(tiny_eps):
    stage = KeyStage(str(tiny_eps))
    stage.setup()
    captions = ["a red cat", "A  Red   cat ", "a red dog", f"{LONG} one", f"{LONG} two", "a red cat."]
    frame = stage.process(pd.DataFrame({"caption": captions}))
    tok = AutoTokenizer.from_pretrained(tiny_eps, subfolder="tokenizer")
    seqs = [tuple(ids) for ids in tok(captions, truncation=True, max_length=77).input_ids]
    same_key = [[a == b for b in frame["caption_key"]] for a in frame["caption_key"]]
    assert same_key == [[a == b for b in seqs] for a in seqs]  # equal keys <=> equal token sequences
    assert frame["caption_key"][0] == frame["caption_key"][1] and frame["caption_key"][3] == frame["caption_key"][4]
    scorer = api.load_model(str(tiny_eps)).scorer.score(captions)
    assert frame["n_tokens"].tolist() == scorer["n_tokens"] and frame["truncated"].tolist() == scorer["truncated"]
    assert frame["status"].eq("ok").all()


def test_unscorable_rows_get_no_key():
    stage = KeyStage()
    stage.setup()
    frame = stage.process(pd.DataFrame({"caption": [None, "", "  ", 3, "ok caption"],
                                        "read_status": [None, None, None, None, None]}))
    assert frame["status"].tolist() == ["null", "empty", "empty", "not_string", "ok"]
    assert frame["caption_key"].isna().tolist() == [True, True, True, True, False]
    assert frame["n_tokens"].isna().tolist() == [True, True, True, True, False]


def test_in_process_scores_carry_keys_and_dup_counts(tiny_eps):
    frame = api.score_captions(["a red cat", "A red  cat", None, "a blue dog", "a red cat"], api.load_model(str(tiny_eps)))
    by_caption = frame.set_index("row_id").sort_index()
    assert by_caption["dup_count"].tolist()[:2] == [3, 3] and pd.isna(by_caption["dup_count"][2])
    assert by_caption["dup_count"][3] == 1 and by_caption["score"][0] == by_caption["score"][1]
