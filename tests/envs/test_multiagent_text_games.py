"""The multi-agent text games: PettingZoo's tests with shaping, oracles, rules, grammar."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

pytest.importorskip("pettingzoo")

from pettingzoo.test import parallel_api_test, parallel_seed_test  # noqa: E402
from pettingzoo.test.state_test import test_parallel_env as check_parallel_state  # noqa: E402

import densegym  # noqa: E402
from densegym.envs.multiagent.negotiation import NegotiationEnv, parse_action  # noqa: E402
from densegym.envs.multiagent.referential import (  # noqa: E402
    ATTRIBUTES,
    ReferentialEnv,
    oracle_answer,
    oracle_message,
)
from densegym.envs.multiagent.textgame import action_line  # noqa: E402

TEXT_IDS = ["densegym/MA-Referential-v0", "densegym/MA-Negotiation-v0"]

#: Shapings the text games admit beyond those tests/envs/test_multiagent_envs.py runs.
ADMITTED = [
    {"id": "invalid_penalty", "flags": ["invalid_action"]},
    [{"id": "step_penalty", "scope": "team"}, {"id": "count", "scope": "agent", "coef": 0.1}],
]
#: Learned bonuses need array observations: refused on text games, in both scopes.
REFUSED = ["rnd", "icm", {"id": "e3b", "scope": "team"}, "noveld"]


@pytest.mark.parametrize("env_id", TEXT_IDS)
@pytest.mark.parametrize("shaping", ADMITTED, ids=["invalid", "step+count"])
def test_pettingzoo_tests_with_more_admitted_shapings(env_id, shaping):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(densegym.make_parallel(env_id, shaping=shaping), num_cycles=50)
    parallel_seed_test(lambda: densegym.make_parallel(env_id, shaping=shaping), num_cycles=50)
    env = densegym.make_parallel(env_id, shaping=shaping)
    check_parallel_state(env)
    env.reset(seed=3)
    flagged: list[str] = []
    while not flagged:  # the speaker's "gibberish" is a (useless) message, not invalid
        *_, infos = env.step(dict.fromkeys(env.agents, "gibberish"))
        flagged = [a for a in infos if infos[a]["invalid_action"]]
    (actor,) = flagged
    terms = infos[actor]["reward_terms"]
    assert terms["extrinsic"] == 0.0
    if "invalid_penalty" in terms:
        assert terms["invalid_penalty"] == pytest.approx(-0.1)


@pytest.mark.parametrize("env_id", TEXT_IDS)
@pytest.mark.parametrize("shaping", REFUSED)
def test_learned_bonuses_are_refused_in_one_sentence(env_id, shaping):
    with pytest.raises(ValueError, match=r"needs an env that is ArrayObservations .* is not$"):
        densegym.make_parallel(env_id, shaping=shaping)


def _play_referential_from_text(env: ReferentialEnv, seed: int) -> tuple[float, bool]:
    """The oracle team talking through the observations only."""
    obs, infos = env.reset(seed=seed)
    message = oracle_message(obs["speaker"])
    obs, *_ = env.step({"speaker": message, "listener": "ignored"})
    _, rewards, terminations, _, infos = env.step(
        {"speaker": "", "listener": oracle_answer(obs["listener"])}
    )
    assert all(terminations.values()) and env.agents == []
    return rewards["listener"], infos["speaker"]["is_success"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"n_distractors": 6, "near_distractors": 6, "n_attributes": 4},
        {"n_distractors": 10, "near_distractors": 2, "n_attributes": 2},
        {"speaker_sees_distractors": False, "n_distractors": 5},
    ],
)
def test_referential_oracle_team_wins_every_seed_through_the_text(kwargs):
    env = ReferentialEnv(**kwargs)
    lengths = []
    for seed in range(250):
        reward, success = _play_referential_from_text(env, seed)
        assert reward == 1.0 and success, seed
        lengths.append(len(env.message.split()))
    n_attributes = kwargs.get("n_attributes", 3)
    if kwargs.get("speaker_sees_distractors", True):
        assert max(lengths) <= n_attributes
        assert min(lengths) < n_attributes  # it names only what it must
    else:
        assert set(lengths) == {n_attributes}


def test_negotiation_oracle_team_reaches_the_best_split_on_every_seed():
    for kwargs in ({}, {"n_types": 5, "max_count": 6, "max_value": 9}):
        env = NegotiationEnv(**kwargs)
        for seed in range(250):
            env.reset(seed=seed)
            bound = env.oracle_remaining()
            steps = 0
            while env.agents:
                _, rewards, terminations, _, infos = env.step(env.oracle_step())
                steps += 1
            assert set(rewards.values()) == {1.0} and all(terminations.values()), seed
            assert infos["agent_1"]["is_success"] and infos["agent_0"]["efficiency"] == 1.0
            assert steps <= bound == 2


def test_referential_instances_follow_the_knobs_and_the_seed():
    env = ReferentialEnv(n_distractors=5, near_distractors=3, n_attributes=4)
    targets = set()
    for seed in range(100):
        env.reset(seed=seed)
        objects = env.candidates
        assert len(objects) == 6 and len(set(objects)) == 6
        differing = sorted(sum(a != b for a, b in zip(o, env.target)) for o in objects)
        assert differing[0] == 0 and differing[1:4] == [1, 1, 1]
        assert all(v < len(values) for o in objects for v, (_, values) in zip(o, ATTRIBUTES))
        targets.add(env.target_index)
    assert targets == set(range(6))  # the target's number is shuffled
    first = env.reset(seed=7)[0]
    env.reset(seed=8)
    assert env.reset(seed=7)[0] == first
    env.reset()
    assert env.state() != ReferentialEnv(n_distractors=5, near_distractors=3).reset(seed=7)


def test_referential_rules_wrong_unreadable_truncated_and_ignored_actions():
    env = ReferentialEnv(max_message=10)
    obs, infos = env.reset(seed=0)
    assert infos["speaker"]["acting"] and not infos["listener"]["acting"]
    assert "Wait" in obs["listener"] and "(not yet sent)" in obs["listener"]
    # The listener's action is ignored while the speaker speaks (not flagged).
    obs, _, _, _, infos = env.step({"speaker": "a very long message indeed", "listener": 3})
    assert env.message == "a very lon" and infos["speaker"]["message_truncated"]
    assert not infos["listener"]["invalid_action"] and infos["listener"]["acting"]
    # Unreadable answers are flagged, counted, and the listener tries again.
    for bad, reason in [("99", "numbered 99"), ("the best one", "names no candidate"), (None, "")]:
        _, rewards, terminations, truncations, infos = env.step({"speaker": "", "listener": bad})
        if env.agents:
            assert (
                infos["listener"]["invalid_action"]
                and reason in infos["listener"]["invalid_reason"]
            )
    assert env.agent_invalid == {"speaker": 0, "listener": 3} and env.invalid_actions == 3
    assert all(truncations.values()) and not any(terminations.values())  # 4 steps: truncated
    assert set(rewards.values()) == {0.0} and not infos["speaker"]["is_success"]
    # A readable wrong answer ends the game with 0.
    env.reset(seed=0)
    wrong = (env.target_index + 1) % len(env.candidates)
    env.step({"speaker": "x", "listener": ""})
    obs, rewards, terminations, _, infos = env.step(
        {"speaker": "", "listener": f"Answer: {wrong + 1}"}
    )
    assert set(rewards.values()) == {0.0} and all(terminations.values())
    assert "wrong" in obs["speaker"] and "game is over" in obs["listener"]
    # An answer by name works; two names are ambiguous.
    env.reset(seed=0)
    env.step({"speaker": "x", "listener": ""})
    names = [env.describe(o) for o in env.candidates]
    assert env.read_answer(f"It is the {names[2]}.") == (2, "")
    assert env.read_answer(f"{names[0]} or {names[1]}")[0] is None


def test_referential_potential_is_the_share_of_distractors_ruled_out():
    env = ReferentialEnv(n_distractors=4, near_distractors=4, n_attributes=3)
    env.reset(seed=5)
    assert env.progress() == 0.0
    target_words = env.describe(env.target).split()
    env.step({"speaker": target_words[0], "listener": ""})
    ruled = sum(env.describe(o).split()[0] != target_words[0] for o in env.candidates)
    assert env.progress() == ruled / 4 == env.progress("speaker")
    env.reset(seed=5)
    other = next(o for o in env.candidates if o != env.target)
    wrong_word = next(w for w, t in zip(env.describe(other).split(), target_words) if w != t)
    env.step({"speaker": wrong_word, "listener": ""})
    assert env.progress() == 0.0  # the message rules the target out


def test_negotiation_grammar_is_parsed_without_eval():
    items = ("book", "hat", "ball")
    cases = {
        "propose(book=1, hat=2, ball=0)": ("propose", (1, 2, 0)),
        "  PROPOSE( Books = 2 , ball: 1 )": ("propose", (2, 0, 1)),
        "I propose(3, 0, 1) now": ("propose", (3, 0, 1)),
        "accept": ("accept", None),
        "Accept.": ("accept", None),
        "propose(1, 2)": ("invalid", None),
        "propose(book=1, book=2)": ("invalid", None),
        "propose(sword=1)": ("invalid", None),
        "propose(__import__('os').system('true'))": ("invalid", None),
        "propose(book=1+1)": ("invalid", None),
        "reject": ("invalid", None),
        "accepted": ("invalid", None),
        "propose(" + "1," * 5000 + ")": ("invalid", None),
    }
    for line, (kind, counts) in cases.items():
        got_kind, got_counts, error = parse_action(line, items)
        assert (got_kind, got_counts) == (kind, counts), line
        assert bool(error) == (kind == "invalid"), line
    assert action_line("x" * 1000)[0] == "x" * 200


def test_negotiation_rules_turns_invalid_moves_and_truncation():
    env = NegotiationEnv(max_cycles=6)
    obs, infos = env.reset(seed=0)
    assert "propose(" in obs["agent_0"] and "It is your turn" in obs["agent_0"]
    assert str(env.values["agent_1"]) not in obs["agent_0"].replace(" ", "")  # private
    moves = [
        ("agent_0", "accept", "no proposal"),  # nothing to accept
        ("agent_1", "propose(book=9, hat=0, ball=0)", "fewer items"),
        ("agent_0", "propose(book=1, hat=1, ball=1)", None),
        ("agent_1", "hello there", "write propose"),
        ("agent_0", "accept", "no proposal"),  # its own proposal
        ("agent_1", "propose(0, 0, 0)", None),
    ]
    for agent, line, reason in moves:
        other = "agent_1" if agent == "agent_0" else "agent_0"
        _, rewards, terminations, truncations, infos = env.step({agent: line, other: "accept"})
        assert infos[agent]["invalid_action"] == (reason is not None), line
        assert not infos[other]["invalid_action"]  # the waiting agent's action is ignored
        if reason:
            assert reason in infos[agent]["invalid_reason"]
    assert env.agent_invalid == {"agent_0": 2, "agent_1": 2}
    assert all(truncations.values()) and set(rewards.values()) == {0.0} and env.agents == []
    assert not infos["agent_0"]["is_success"]


def test_negotiation_efficiency_is_realised_over_best_by_brute_force():
    env = NegotiationEnv(n_types=3, max_count=3)
    for seed in range(30):
        env.reset(seed=seed)
        v0, v1 = np.array(env.values["agent_0"]), np.array(env.values["agent_1"])
        pool = np.array(env.pool)
        splits = [np.array(s) for s in itertools.product(*(range(n + 1) for n in env.pool))]
        best = max(int(v0 @ s + v1 @ (pool - s)) for s in splits)
        assert env.best_total() == best > 0
        keeps = splits[seed % len(splits)]
        env.step({"agent_0": f"propose({', '.join(map(str, keeps))})", "agent_1": ""})
        assert env.progress() == pytest.approx(0.5 * (v0 @ keeps + v1 @ (pool - keeps)) / best)
        _, rewards, *_ = env.step({"agent_0": "", "agent_1": "accept"})
        assert rewards["agent_0"] == pytest.approx((v0 @ keeps + v1 @ (pool - keeps)) / best)


@pytest.mark.parametrize("cls", [ReferentialEnv, NegotiationEnv])
def test_candidate_actions_are_legal_and_hide_the_oracle_unless_asked(cls):
    env = cls()
    for seed in range(20):
        env.reset(seed=seed)
        while env.agents:
            oracle = env.oracle_action()
            every = env.candidate_actions(None, include_oracle=True)
            assert oracle in every and oracle not in env.candidate_actions(None)
            assert len(env.candidate_actions(3)) <= 3
            line = every[seed % len(every)]
            actor = env.actor()
            *_, infos = env.step({actor: line})
            assert not infos[actor]["invalid_action"], line


def test_bad_knobs_are_one_clear_error():
    with pytest.raises(ValueError, match="near_distractors must be in"):
        ReferentialEnv(n_distractors=2, near_distractors=3)
    with pytest.raises(ValueError, match="n_attributes must be in"):
        ReferentialEnv(n_attributes=9)
    with pytest.raises(ValueError, match="max_cycles must be at least 2"):
        NegotiationEnv(max_cycles=1)
    with pytest.raises(ValueError, match="n_types must be in"):
        NegotiationEnv(n_types=0)


@pytest.mark.parametrize("env_id", TEXT_IDS)
def test_render_shows_the_state(env_id):
    env = densegym.make_parallel(env_id, render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert text == env.state() and "turn:" in text
