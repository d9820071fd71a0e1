"""Prompt concepts: A1111 syntax is understood, odd and hostile text is survived."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civitai_vault.analysis.prompts import (
    ConceptCounter,
    ExtraNetwork,
    WeightedPhrase,
    clean_phrase,
    parse_prompt,
    prompt_concepts,
)


def phrases(prompt: str) -> list[tuple[str, float]]:
    return [(p.text, round(p.weight, 3)) for p in parse_prompt(prompt).phrases]


def test_plain_tags_split_at_commas_and_lines():
    assert phrases("masterpiece, best quality,\n1girl ,  long   hair") == [
        ("masterpiece", 1.0),
        ("best quality", 1.0),
        ("1girl", 1.0),
        ("long hair", 1.0),
    ]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("(red hair:1.3)", [("red hair", 1.3)]),
        ("(red hair)", [("red hair", 1.1)]),
        ("((red hair))", [("red hair", 1.21)]),
        ("[red hair]", [("red hair", 0.909)]),
        ("[[red hair]]", [("red hair", 0.826)]),
        ("((red hair:1.2))", [("red hair", 1.32)]),
        ("((a:1.2), b)", [("a", 1.32), ("b", 1.1)]),
        ("(red hair, blue eyes:0.8), smile", [("red hair", 0.8), ("blue eyes", 0.8), ("smile", 1)]),
        ("(a (b) c:1.5)", [("a b c", 1.5)]),
        ("( spaced out : 1.25 )", [("spaced out", 1.25)]),
        ("(negative:-0.5)", [("negative", -0.5)]),
        ("(dot:.5)", [("dot", 0.5)]),
    ],
)
def test_emphasis_follows_a1111(prompt, expected):
    assert phrases(prompt) == expected


def test_escaped_parentheses_are_part_of_the_name():
    assert phrases(r"pikachu \(pokemon\), (ash \(anime\):1.2)") == [
        ("pikachu (pokemon)", 1.0),
        ("ash (anime)", 1.2),
    ]


def test_unbalanced_brackets_weigh_to_the_end_like_a1111():
    assert phrases("(open, still open") == [("open", 1.1), ("still open", 1.1)]
    assert phrases("stray) close, fine") == [("stray close", 1.0), ("fine", 1.0)]
    assert phrases("[never closed") == [("never closed", 0.909)]


def test_bracket_spanning_chunks_is_read_whole():
    assert phrases("a, (b, c:1.4), d") == [("a", 1), ("b", 1.4), ("c", 1.4), ("d", 1)]


def test_prompt_editing_and_alternation_are_not_de_emphasis():
    assert phrases("[cat:dog:0.4], [red|blue] car") == [
        ("cat", 1.0),
        ("dog", 1.0),
        ("red", 1.0),
        ("blue car", 1.0),
    ]


def test_extra_networks_are_taken_out_with_their_weights():
    parsed = parse_prompt(
        "a castle <lora:Detail_Tweaker:0.8>, <LyCORIS:x:1> <lyco:Ink-Style> night"
    )
    assert parsed.networks == [
        ExtraNetwork("lora", "Detail_Tweaker", 0.8),
        ExtraNetwork("lyco", "Ink-Style", None),
    ]
    texts = [p.text for p in parsed.phrases]
    assert "a castle" in texts and "night" in texts
    assert not any("lora" in text or "lyco:" in text for text in texts)


def test_break_and_and_separate_only_in_upper_case():
    assert [p.text for p in parse_prompt("a cat BREAK a dog AND a bird").phrases] == [
        "a cat",
        "a dog",
        "a bird",
    ]
    assert [p.text for p in parse_prompt("breakfast and coffee").phrases] == [
        "breakfast and coffee"
    ]


def test_cjk_and_emoji_survive():
    parsed = parse_prompt("猫耳, 桜の木の下, (🌸✨ sparkles:1.2), 한국어 텍스트")
    assert [(p.text, p.weight) for p in parsed.phrases] == [
        ("猫耳", 1.0),
        ("桜の木の下", 1.0),
        ("🌸✨ sparkles", 1.2),
        ("한국어 텍스트", 1.0),
    ]
    words, multi = prompt_concepts(parsed.phrases)
    assert {"猫耳", "桜の木の下", "sparkles", "한국어", "텍스트"} <= words
    assert "한국어 텍스트" in multi


def test_hostile_text_is_only_text():
    hostile = '<script>alert(1)</script>, <img src=x onerror="alert(2)">, {{7*7}}, ${x}'
    parsed = parse_prompt(hostile)
    assert parsed.networks == []
    assert all(isinstance(p, WeightedPhrase) for p in parsed.phrases)
    assert any("script" in p.text for p in parsed.phrases)


def test_stop_words_and_numbers_are_not_concepts():
    words, multi = prompt_concepts(
        parse_prompt("a photo of the sea, 8k, 1024, in the rain").phrases
    )
    assert words == {"photo", "sea", "8k", "rain"}
    assert multi == {"a photo of the sea", "in the rain"}


def test_booru_tags_read_as_words_but_named_tags_stay():
    assert clean_phrase("looking_at_viewer") == "looking at viewer"
    assert clean_phrase("score_8_up") == "score_8_up"
    assert clean_phrase("  ((  ") == ""
    assert clean_phrase("1.5") == ""


def test_sentences_give_word_pairs():
    _, multi = prompt_concepts(
        parse_prompt("a lonely lighthouse keeper walking along the stormy coast").phrases
    )
    assert {"lonely lighthouse", "lighthouse keeper", "keeper walking", "stormy coast"} <= multi
    assert "walking along" in multi
    assert not any(pair.startswith("the ") or pair.endswith(" the") for pair in multi)


def test_counter_counts_each_prompt_once_and_weighs_repeats():
    counter = ConceptCounter()
    counter.add("long hair, (long hair:1.4), long hair")  # once, at its first emphasis
    counter.add("long hair, smile", times=3)  # three images with this exact prompt
    counter.add(None)
    counter.add("")
    top = counter.top(10)
    assert counter.prompts == 4
    assert {"text": "long hair", "count": 4, "average_weight": 1.1} in top["phrases"]
    assert {"text": "hair", "count": 4} in top["words"]
    assert {"text": "smile", "count": 3} in top["words"]


def test_counter_orders_ties_by_text():
    counter = ConceptCounter()
    for prompt in ("zebra stripes", "apple pie", "mango juice"):
        counter.add(prompt)
    assert [item["text"] for item in counter.top(2)["phrases"]] == ["apple pie", "mango juice"]


def test_counter_counts_networks_case_insensitively():
    counter = ConceptCounter()
    counter.add("x <lora:Detail:0.5> <lora:detail:1>")
    counter.add("y <lora:DETAIL:0.7>")
    assert counter.top(5)["networks"] == [{"name": "detail", "count": 2}]


PROMPT_PIECES = st.sampled_from(
    [
        "cat",
        "long hair",
        "(",
        ")",
        "[",
        "]",
        ":1.2)",
        ":",
        "|",
        ",",
        "\n",
        " BREAK ",
        "\\(",
        "\\)",
        "\\",
        "<lora:x:0.5>",
        "<",
        ">",
        "猫",
        "🌸",
        " ",
        "((",
        "))",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(PROMPT_PIECES, max_size=30).map("".join))
def test_any_mix_of_syntax_parses_the_same_chunked_and_whole(prompt):
    """The fast path (chunk by chunk, remembered) agrees with reading the prompt whole."""
    from civitai_vault.analysis import prompts

    text, _ = prompts._take_networks_and_keywords(prompt)
    whole = prompts._phrases_from_pieces(prompts._attention_pieces(text) or [])
    assert [(p.text, round(p.weight, 6)) for p in prompts._phrases(text)] == [
        (p.text, round(p.weight, 6)) for p in whole
    ]
    counter = ConceptCounter()
    counter.add(prompt)
    assert counter.prompts == (1 if prompt else 0)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses(prompt):
    parsed = parse_prompt(prompt)
    assert all(p.text and p.text == p.text.strip() for p in parsed.phrases)
