"""Grade-school word-problem templates: each writes a story and its solution plan.

Every template has the signature ``template(rng, n_steps, level) -> (question, builder,
answer_ref)`` and produces *exactly* ``n_steps`` computations (2–8) with integer
intermediate values; ``level`` (1–5) scales the numbers. Templates retry internally
with the same ``rng`` when a draw is infeasible, so they stay deterministic.

Example:
    >>> import random
    >>> question, plan, answer = shopping(random.Random(1), 3, 1)
    >>> len(plan), plan.value(answer) > 0
    (3, True)
"""

from __future__ import annotations

import random
from collections.abc import Callable

from densegym.envs.reasoning.chain import PlanBuilder
from densegym.envs.reasoning.expr import Ref

Template = Callable[[random.Random, int, int], tuple[str, PlanBuilder, Ref]]

_PEOPLE = (
    ("Maya", "she", "her"), ("Liam", "he", "his"), ("Ava", "she", "her"),
    ("Noah", "he", "his"), ("Zoe", "she", "her"), ("Omar", "he", "his"),
    ("Priya", "she", "her"), ("Lucas", "he", "his"), ("Elena", "she", "her"),
    ("Kenji", "he", "his"), ("Sofia", "she", "her"), ("Mateo", "he", "his"),
)  # fmt: skip
_ITEMS = (
    ("notebook", "notebooks", 5), ("pen", "pens", 3), ("apple", "apples", 2),
    ("sandwich", "sandwiches", 8), ("ticket", "tickets", 12), ("toy car", "toy cars", 9),
    ("book", "books", 15), ("cupcake", "cupcakes", 4), ("plant", "plants", 11),
)  # fmt: skip
_THINGS = ("marbles", "stickers", "cookies", "cards", "beads", "stamps", "shells")
_BILLS = (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
_FRACTIONS = {2: "half", 3: "a third", 4: "a quarter", 5: "a fifth"}
_MAX_TRIES = 200


class _Retry(Exception):
    """Return an infeasible draw: the template starts again with the same generator."""


def _person(rng: random.Random, exclude: tuple[str, ...] = ()) -> tuple[str, str, str]:
    return rng.choice([p for p in _PEOPLE if p[0] not in exclude])


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _retrying(
    template: Callable[[random.Random, int, int], tuple[str, PlanBuilder, Ref]],
) -> Template:
    def run(rng: random.Random, n_steps: int, level: int) -> tuple[str, PlanBuilder, Ref]:
        for _ in range(_MAX_TRIES):
            try:
                question, plan, answer = template(rng, n_steps, level)
            except _Retry:
                continue
            if len(plan) != n_steps:  # pragma: no cover - a template bug
                raise AssertionError(f"{template.__name__} made {len(plan)} steps, not {n_steps}")
            return question, plan, answer
        raise RuntimeError(
            f"{template.__name__} found no problem with {n_steps} steps"
        )  # pragma: no cover

    run.__name__ = template.__name__
    run.__doc__ = template.__doc__
    return run


def _sum_all(plan: PlanBuilder, parts: list[Ref], label: str) -> Ref:
    total = parts[0]
    for i, part in enumerate(parts[1:], start=2):
        total = plan.add("+", total, part, label if i == len(parts) else "Total so far")
    return total


@_retrying
def shopping(rng: random.Random, n_steps: int, level: int) -> tuple[str, PlanBuilder, Ref]:
    """Buy several kinds of items; maybe a coupon; maybe the change from a bill."""
    options = [
        (k, e) for k in range(1, 5) for e in range(3) if 2 * k - 1 + e == n_steps and k + e > 1
    ]
    kinds, extras = rng.choice(options)
    name, she, her = _person(rng)
    items = rng.sample(_ITEMS, kinds)
    plan = PlanBuilder()
    costs, phrases = [], []
    for _singular, plural, base_price in items:
        qty = rng.randint(2, 3 + 2 * level)
        price = rng.randint(max(1, base_price - 2), base_price + 2 * level)
        costs.append(plan.add("*", qty, price, f"Cost of the {plural}"))
        phrases.append(f"{qty} {plural} for ${price} each")
    listing = phrases[0] if kinds == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    total = _sum_all(plan, costs, "Total cost") if kinds > 1 else costs[0]
    sentences = [f"{name} buys {listing}."]
    use_coupon = extras == 2 or (extras == 1 and rng.random() < 0.5)
    if use_coupon:
        coupon = rng.randint(1, max(1, int(plan.value(total)) // 4))
        if coupon >= plan.value(total):
            raise _Retry
        total = plan.add("-", total, coupon, "After the coupon")
        sentences.append(f"{_cap(she)} uses a coupon for ${coupon} off the total.")
    if extras - use_coupon:
        bill = next(b for b in _BILLS if b > plan.value(total))
        total = plan.add("-", bill, total, "Change")
        sentences.append(
            f"{_cap(she)} pays with a ${bill} bill. How much change does {she} get, in dollars?"
        )
    else:
        sentences.append(f"How many dollars does {she} pay in total?")
    return " ".join(sentences), plan, total


@_retrying
def travel(rng: random.Random, n_steps: int, level: int) -> tuple[str, PlanBuilder, Ref]:
    """Travel in legs (hours at a speed); ask the total distance or the distance left."""
    remaining = 1 - n_steps % 2  # n = 2 * legs - 1 + remaining
    legs = (n_steps + 1 - remaining) // 2
    name, she, her = _person(rng)
    mode, low, high = rng.choice([("drives", 30, 70), ("cycles", 8, 20), ("sails", 5, 15)])
    plan = PlanBuilder()
    parts, phrases = [], []
    for i in range(legs):
        hours = rng.randint(1, 2 + level)
        speed = rng.randint(low, high + 5 * level)
        parts.append(plan.add("*", hours, speed, f"Distance of the {_ORDINALS[i]} leg"))
        hour_word = "hour" if hours == 1 else "hours"
        phrases.append(f"{hours} {hour_word} at {speed} miles per hour")
    total = _sum_all(plan, parts, "Total distance") if legs > 1 else parts[0]
    listing = ", then for ".join(phrases)
    sentences = [f"{name} {mode} for {listing}."]
    if remaining:
        goal = int(plan.value(total)) + rng.randint(5, 40 * level)
        total = plan.add("-", goal, total, "Distance left")
        sentences.append(f"The destination is {goal} miles from the start.")
        sentences.append(f"How many more miles must {she} travel?")
    else:
        sentences.append(f"How many miles does {she} travel in total?")
    return " ".join(sentences), plan, total


_ORDINALS = ("first", "second", "third", "fourth")


@_retrying
def work(rng: random.Random, n_steps: int, level: int) -> tuple[str, PlanBuilder, Ref]:
    """Hourly pay over days and weeks, then spending, bonuses and saving a fraction."""
    name, she, her = _person(rng)
    plan = PlanBuilder()
    wage = rng.randint(8, 12 + 3 * level)
    hours = rng.randint(2, 8)
    n_mult = min(n_steps, rng.choice((1, 2, 3)))
    money = plan.add("*", wage, hours, "Pay per day")
    sentences = [f"{name} earns ${wage} an hour and works {hours} hours a day."]
    period = "in one day"
    if n_mult >= 2:
        days = rng.randint(2, 6)
        money = plan.add("*", money, days, "Pay per week")
        sentences.append(f"{_cap(she)} works {days} days a week.")
        period = "in one week"
    if n_mult >= 3:
        weeks = rng.randint(2, 3 + level)
        money = plan.add("*", money, weeks, f"Pay for {weeks} weeks")
        sentences.append(f"{_cap(she)} keeps this up for {weeks} weeks.")
        period = f"in {weeks} weeks"
    question = f"How many dollars does {she} earn {period}?"
    for i in range(n_steps - n_mult):
        value = int(plan.value(money))
        divisors = [d for d in _FRACTIONS if value % d == 0]
        kind = rng.choice(["spend", "bonus"] + (["save"] * 2 if divisors else []))
        if kind == "save" and i == n_steps - n_mult - 1:
            d = rng.choice(divisors)
            money = plan.add("/", money, d, "Amount saved")
            sentences.append(f"{_cap(she)} puts {_FRACTIONS[d]} of {her} money into savings.")
            question = f"How many dollars does {she} put into savings?"
            continue
        if kind == "spend" and value > 10:
            cost = rng.randint(1, value // 2)
            money = plan.add("-", money, cost, "Money left")
            sentences.append(f"{_cap(she)} spends ${cost} on {rng.choice(_EXPENSES)}.")
        else:
            gift = rng.randint(5, 20 * level)
            money = plan.add("+", money, gift, "Money now")
            sentences.append(rng.choice(_INCOME).format(she=_cap(she), her=her, x=gift))
        question = f"How many dollars does {she} have now?"
    sentences.append(question)
    return " ".join(sentences), plan, money


_EXPENSES = ("groceries", "a bus pass", "a gift", "books", "rent", "a concert ticket")
_INCOME = (
    "{she} gets a ${x} bonus.",
    "{she} earns an extra ${x} in tips.",
    "{she} receives ${x} as a gift from {her} aunt.",
    "{she} finds ${x} in {her} old jacket.",
    "{she} sells an old bike for ${x}.",
)


def _years(n: int) -> str:
    return "1 year" if n == 1 else f"{n} years"


@_retrying
def ages(rng: random.Random, n_steps: int, level: int) -> tuple[str, PlanBuilder, Ref]:
    """Relate each person's age to the previous one's; then ask a final question."""
    final = rng.choice(["who", "sum", "future", "difference"])
    relation_steps = n_steps - (final != "who")
    people = list(rng.sample(_PEOPLE, len(_PEOPLE)))
    first_name = people[0][0]
    start = rng.randint(3, 8 + 2 * level)
    plan = PlanBuilder()
    age: Ref | int = start
    sentences = [f"{first_name} is {start} years old."]
    ages_of = [(first_name, age)]
    used = 0
    while used < relation_steps:
        previous, value = ages_of[-1][0], int(plan.value(age))
        name = people[len(ages_of)][0]
        allow_two = relation_steps - used >= 2
        choices = ["older"]
        if value <= 40:
            choices += ["times"] + (["times_plus"] if allow_two and value <= 30 else [])
        if value > 6:
            choices.append("younger")
        if value % 2 == 0 and value >= 8:
            choices.append("half")
        kind = rng.choice(choices)
        if kind == "older":
            b = rng.randint(2, 12)
            age = plan.add("+", age, b, f"{name}'s age")
            sentences.append(f"{name} is {_years(b)} older than {previous}.")
        elif kind == "younger":
            b = rng.randint(1, min(value - 2, 12))
            age = plan.add("-", age, b, f"{name}'s age")
            sentences.append(f"{name} is {_years(b)} younger than {previous}.")
        elif kind == "times":
            k = 2 if value > 25 else rng.choice((2, 3))
            age = plan.add("*", age, k, f"{name}'s age")
            sentences.append(
                f"{name} is {'twice' if k == 2 else 'three times'} as old as {previous}."
            )
        elif kind == "half":
            age = plan.add("/", age, 2, f"{name}'s age")
            sentences.append(f"{name} is half as old as {previous}.")
        else:
            b = rng.randint(1, 6)
            twice = plan.add("*", age, 2, f"Twice {previous}'s age")
            age = plan.add("+", twice, b, f"{name}'s age")
            sentences.append(f"{name} is {_years(b)} older than twice {previous}'s age.")
            used += 1
        used += 1
        ages_of.append((name, age))
        if plan.value(age) > 100:
            raise _Retry
    last = ages_of[-1][0]
    if final == "who":
        sentences.append(f"How old is {last}?")
    elif final == "future":
        years = rng.randint(2, 10)
        age = plan.add("+", age, years, f"{last}'s age in {years} years")
        sentences.append(f"How old will {last} be in {years} years?")
    else:
        other_name, other_age = rng.choice(ages_of[:-1])
        if final == "sum":
            age = plan.add("+", other_age, age, "Sum of the ages")
            sentences.append(f"What is the sum of the ages of {other_name} and {last}?")
        else:
            if plan.value(age) == plan.value(other_age):
                raise _Retry
            older, younger = (
                (age, other_age) if plan.value(age) > plan.value(other_age) else (other_age, age)
            )
            names = (last, other_name) if older is age else (other_name, last)
            age = plan.add("-", older, younger, "Age difference")
            sentences.append(f"How many years older is {names[0]} than {names[1]}?")
    return " ".join(sentences), plan, age


@_retrying
def sharing(rng: random.Random, n_steps: int, level: int) -> tuple[str, PlanBuilder, Ref]:
    """Collect things, give some away, share the rest equally, adjust each share."""
    name, she, her = _person(rng)
    friend = _person(rng, exclude=(name,))[0]
    thing = rng.choice(_THINGS)
    plan = PlanBuilder()
    sentences = []
    if rng.random() < 0.6:
        boxes, per_box = rng.randint(2, 4 + level), rng.randint(6, 12 + 6 * level)
        amount: Ref | int = plan.add("*", boxes, per_box, f"Total {thing}")
        sentences.append(f"{name} has {boxes} boxes with {per_box} {thing} in each box.")
    else:
        amount = rng.randint(20, 40 + 30 * level)
        sentences.append(f"{name} has {amount} {thing}.")
    remaining = n_steps - len(plan)
    split_at = rng.randint(0, remaining - 1)
    groups = 0
    question = f"How many {thing} does {name} have now?"
    for i in range(remaining):
        value = int(plan.value(amount))
        if i == split_at:
            sizes = [f for f in range(2, 13) if value % f == 0 and value // f >= 3]
            if not sizes:
                raise _Retry
            groups = rng.choice(sizes)
            amount = plan.add("/", amount, groups, f"{_cap(thing)} per friend")
            sentences.append(f"{_cap(she)} shares them equally among {groups} friends.")
            question = f"How many {thing} does each friend have?"
        elif i < split_at:
            if rng.random() < 0.5 and value > 10:
                x = rng.randint(1, value // 2)
                amount = plan.add("-", amount, x, f"{_cap(thing)} left")
                sentences.append(f"{_cap(she)} gives {x} {thing} to {friend}.")
            else:
                x = rng.randint(2, 10 * level)
                amount = plan.add("+", amount, x, f"{_cap(thing)} now")
                sentences.append(f"{_cap(she)} buys {x} more {thing}.")
        elif i == remaining - 1 and rng.random() < 0.4 and groups > 2:
            k = rng.randint(2, groups - 1)
            amount = plan.add("*", amount, k, f"{_cap(thing)} of {k} friends")
            question = f"How many {thing} do {k} of the friends have together?"
        elif rng.random() < 0.5 and value > 2:
            x = rng.randint(1, value - 1)
            amount = plan.add("-", amount, x, f"{_cap(thing)} per friend left")
            sentences.append(f"Each friend then loses {x} of them.")
        else:
            x = rng.randint(1, 3 * level)
            amount = plan.add("+", amount, x, f"{_cap(thing)} per friend now")
            sentences.append(f"Each friend then gets {x} more {thing} from {friend}.")
    sentences.append(question)
    return " ".join(sentences), plan, amount


# (object, objects, big unit, small unit, factor, big range, small step, piece word, verb)
_UNITS = (
    ("ribbon", "ribbons", "meters", "centimeters", 100, 4, 5, "pieces", "cuts"),
    ("bag of flour", "bags of flour", "kilograms", "grams", 1000, 5, 50, "cakes", "bakes"),
    ("playlist", "playlists", "hours", "minutes", 60, 5, 5, "sessions", "splits"),
    ("wooden board", "wooden boards", "feet", "inches", 12, 8, 1, "shelves", "cuts"),
)


@_retrying
def units(rng: random.Random, n_steps: int, level: int) -> tuple[str, PlanBuilder, Ref]:
    """Convert a mixed quantity to the small unit, then scale, trim and divide it."""
    obj, objs, big, small, factor, big_max, small_step, pieces, verb = rng.choice(_UNITS)
    name, she, her = _person(rng)
    plan = PlanBuilder()
    count_big = rng.randint(2, big_max + level)
    count_small = small_step * rng.randint(2 if small_step == 1 else 1, (factor - 1) // small_step)
    amount = plan.add("*", count_big, factor, f"{_cap(big)} in {small}")
    amount = plan.add("+", amount, count_small, f"Total {small}")
    sentences = [f"{name} has a {obj} of {count_big} {big} and {count_small} {small}."]
    question = f"How many {small} is that in total?"
    remaining = n_steps - 2
    divide_at = rng.randint(0, remaining - 1) if remaining and rng.random() < 0.7 else -1
    divided, it = False, "it"
    for i in range(remaining):
        value = int(plan.value(amount))
        if i == divide_at:
            sizes = [s for s in range(2, value // 2 + 1) if value % s == 0 and s % small_step == 0]
            sizes = [s for s in sizes if 2 <= value // s <= 60]
            if not sizes:
                raise _Retry
            size = rng.choice(sizes)
            amount = plan.add("/", amount, size, f"Number of {pieces}")
            if pieces == "cakes":
                sentences.append(
                    f"{_cap(she)} {verb} cakes that need {size} {small} each, using {it} all."
                )
            else:
                sentences.append(f"{_cap(she)} {verb} {it} into {pieces} of {size} {small} each.")
            question = f"How many {pieces} does {she} get?"
            divided = True
        elif divided:
            if rng.random() < 0.5 and value > 2:
                x = rng.randint(1, value - 1)
                amount = plan.add("-", amount, x, f"{_cap(pieces)} left")
                sentences.append(f"{_cap(she)} gives away {x} of the {pieces}.")
                question = f"How many {pieces} does {she} have left?"
            else:
                price = rng.randint(2, 5 + 2 * level)
                amount = plan.add("*", amount, price, "Money made")
                sentences.append(f"{_cap(she)} sells each of the {pieces} for ${price}.")
                question = f"How many dollars does {she} make if {she} sells them all?"
        elif i == 0 and rng.random() < 0.4:
            copies = rng.randint(2, 4)
            amount = plan.add("*", amount, copies, f"{_cap(small)} in all")
            sentences.append(f"{_cap(she)} has {copies} such {objs} in total.")
            it = "them"
        elif rng.random() < 0.5 and value > small_step * 2:
            x = small_step * rng.randint(1, value // (2 * small_step))
            amount = plan.add("-", amount, x, f"{_cap(small)} left")
            sentences.append(f"Then {she} uses {x} {small}.")
        else:
            x = small_step * rng.randint(1, 10)
            amount = plan.add("+", amount, x, f"{_cap(small)} now")
            sentences.append(f"{_cap(she)} adds another {x} {small}.")
        if not divided:
            question = f"How many {small} does {she} have now?"
    sentences.append(question)
    return " ".join(sentences), plan, amount


#: Every template by name.
TEMPLATES: dict[str, Template] = {
    "shopping": shopping,
    "travel": travel,
    "work": work,
    "ages": ages,
    "sharing": sharing,
    "units": units,
}
