"""Generated long conversations for bench/memory.py: facts planted at known turns, turns about
the same subject that do not hold the fact, corrections that supersede a fact, and everyday
filler, with one question per fact at the end.

Deterministic for a given `random.Random`. Every subject's values, distractors and questions are
written so that only the planted (or correcting) turn answers the question: a distractor may
name the subject, even give somebody else's value of it ("my partner's favourite colour is
green"), but never the user's own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Subject:
    name: str
    facts: tuple[str, ...]  # the user's statement, "{v}" the value
    corrections: tuple[str, ...]  # a later statement replacing the value
    values: tuple[str, ...]
    questions: tuple[str, ...]  # the last one shares no telling word with the statements
    distractors: tuple[tuple[str, str], ...]  # (user, assistant): same subject, not the fact


SUBJECTS = (
    Subject(
        "dog",
        ("By the way, my dog is called {v}.", "Our puppy's name is {v}, we picked him up today."),
        (
            "We renamed the dog, he answers to {v} now.",
            "Correction: the dog's name is {v}, not the one I told you before.",
        ),
        ("Biscuit", "Pepper", "Rusty", "Mochi", "Juniper"),
        (
            "What's my dog's name?",
            "What did I say my dog is called?",
            "What did we christen our pet?",
        ),
        (
            (
                "My neighbour's dog barks all night, what can I do?",
                "Talk to your neighbour first; if that fails, white noise and a written note help.",
            ),
            (
                "We may get a second dog next year. Is that a good idea?",
                "Two dogs can keep each other company, but double the vet bills and walks.",
            ),
            (
                "My dog hates going to the vet. How do I calm him down?",
                "Short happy visits without treatment, treats in the waiting room, and patience.",
            ),
            (
                "Is it fine to take a dog on a long train journey?",
                "Usually yes: bring water, a mat and check the operator's rules for dogs.",
            ),
            (
                "What should a dog with a sensitive stomach eat?",
                "A single-protein diet, small meals, and ask the vet before changing food.",
            ),
            (
                "My friend's dog is named after a cheese, which made me laugh.",
                "People name dogs after food a lot; it is one of the most common themes.",
            ),
            (
                "How long should I walk my dog every day?",
                "Most adult dogs need at least an hour a day, split into two or three walks.",
            ),
            (
                "My dog keeps chewing the sofa when we're out.",
                "Boredom or anxiety, usually: more exercise, chew toys and short absences first.",
            ),
            (
                "What's a good name for a black labrador? My cousin just got one.",
                "Classic picks are Shadow, Coal or Bear; something short is easiest to call.",
            ),
            (
                "Do dogs understand their names or just the tone of voice?",
                "Both: dogs learn the sound of their name and respond to the tone it is said in.",
            ),
            (
                "My dog is afraid of fireworks, any tips for New Year's Eve?",
                "A quiet room, the curtains shut, background music and staying calm yourself.",
            ),
            (
                "Should I get pet insurance for my dog?",
                "For a young dog it is usually worth it; compare lifetime cover with the excess.",
            ),
        ),
    ),
    Subject(
        "flight",
        ("My flight number is {v}, please keep it in mind.", "I'm booked on flight {v}."),
        (
            "The airline moved me to a different flight, it's {v} now.",
            "New flight number: {v}; the old one was cancelled.",
        ),
        ("BA117", "LH402", "KL1893", "AF2245", "IB3170"),
        ("Which flight am I on?", "What flight number did I give you?", "Which plane am I taking?"),
        (
            (
                "My flight was delayed three hours last time. Can I claim compensation?",
                "In the EU a delay over three hours usually qualifies; keep your boarding pass.",
            ),
            (
                "How early should I get to the airport for an international flight?",
                "Two to three hours before departure is the usual advice.",
            ),
            (
                "My brother's flight lands at six, should I pick him up?",
                "If you can, it is a nice gesture; check arrivals for delays before you leave.",
            ),
            (
                "Which seat is best on a long flight?",
                "An aisle seat for moving around, a window seat for sleeping.",
            ),
            (
                "Can I bring a power bank on the flight?",
                "Yes, in hand luggage only, usually up to 100 Wh without approval.",
            ),
            (
                "I always get a blocked nose on flights, why is that?",
                "Cabin air is very dry and the pressure changes; a saline spray helps.",
            ),
            (
                "How do I check in online for my flight?",
                "On the airline's website or app, usually from 24 hours before departure.",
            ),
            (
                "My flight leaves from terminal 5, how long does security take there?",
                "Usually 15 to 30 minutes, longer on summer mornings.",
            ),
            (
                "What can I do about jet lag after a long flight?",
                "Get daylight at the destination's morning and keep naps short.",
            ),
            (
                "My colleague missed her connecting flight in Frankfurt last week.",
                "Airlines rebook a missed connection on one ticket at no cost.",
            ),
        ),
    ),
    Subject(
        "sister",
        ("My sister lives in {v}.", "My sister moved to {v} a few years ago and loves it."),
        (
            "My sister just moved again, she lives in {v} now.",
            "Update on my sister: she's settled in {v} these days.",
        ),
        ("Lisbon", "Oslo", "Quito", "Nairobi", "Hanoi"),
        (
            "Where does my sister live?",
            "Which city is my sister in?",
            "Where would I travel to visit my sibling?",
        ),
        (
            (
                "My sister is turning forty soon. Any gift ideas?",
                "An experience works well: a class, a concert, or a weekend away.",
            ),
            (
                "My sister's kids love dinosaurs, what book could I send them?",
                "Illustrated dinosaur encyclopaedias are a safe bet for that age.",
            ),
            (
                "How can I call my sister abroad without paying much?",
                "Use an internet calling app over wifi; most are free between users.",
            ),
            (
                "My sister wants to move abroad someday, what should she think about?",
                "Visas, healthcare, the cost of living and whether she can work remotely.",
            ),
            (
                "My colleague's sister lives in Berlin and says the rent is high.",
                "Berlin rents rose a lot in the last decade, especially for new contracts.",
            ),
            (
                "My sister and I haven't spoken in a while, how do I reach out?",
                "A short, warm message without pressure is a good first step.",
            ),
            (
                "My sister is a nurse and works night shifts.",
                "Night shifts are hard on sleep; blackout curtains and a fixed routine help.",
            ),
            (
                "What do I write in a birthday card for my sister?",
                "A shared memory and a wish for the year ahead are always welcome.",
            ),
            (
                "My sister is visiting us next month, what should we do together?",
                "A day trip, a cooking evening or a walk somewhere you both like.",
            ),
            (
                "My best friend's sister lives in Madrid and teaches English.",
                "Teaching English is a common way to live in Spain.",
            ),
        ),
    ),
    Subject(
        "locker",
        ("The code for my gym locker is {v}.", "Remember my locker combination: {v}."),
        (
            "I changed my locker code, it's {v} from today.",
            "The gym reset the lockers, my new code is {v}.",
        ),
        ("4471", "9023", "1180", "6652", "3309"),
        (
            "What is my locker code?",
            "Can you remind me of my gym locker combination?",
            "Which digits open the box where I keep my things while I work out?",
        ),
        (
            (
                "The locker room at my gym is always crowded in the evening.",
                "Mornings or mid-afternoon are usually the quietest times at a gym.",
            ),
            (
                "I forgot my locker key once and had to wait an hour.",
                "A code lock or a spare key on your keyring avoids that next time.",
            ),
            (
                "Should I use a padlock or the gym's code lock?",
                "A code lock means nothing to lose; a padlock you own is harder to guess.",
            ),
            (
                "Somebody left their locker open with a phone inside yesterday.",
                "Handing it to the front desk is the right thing to do.",
            ),
            (
                "How do I pick a locker code I won't forget?",
                "Something meaningful to you but not your birthday or bank PIN.",
            ),
            (
                "My gym membership renews next month, is it worth it?",
                "If you go at least twice a week it usually pays for itself.",
            ),
            (
                "The lockers at my gym are too small for my bag.",
                "A smaller gym bag or a day locker for the big one solves it.",
            ),
            (
                "My locker at work got jammed this morning.",
                "Facilities can open it; don't force it, the hinge can break.",
            ),
            (
                "Is it safe to leave my wallet in a gym locker?",
                "Mostly, but leave cards and cash at home when you can.",
            ),
        ),
    ),
    Subject(
        "colour",
        ("My favourite colour is {v}.", "I really like {v}, it's my favourite colour."),
        (
            "I've changed my mind, my favourite colour is {v} now.",
            "These days {v} is my favourite colour.",
        ),
        ("teal", "ochre", "crimson", "lilac", "amber"),
        (
            "What is my favourite colour?",
            "Which colour did I say I like best?",
            "Which shade do I prefer?",
        ),
        (
            (
                "What colour should I paint the kitchen?",
                "Warm whites and soft greens are popular and make a kitchen look bigger.",
            ),
            (
                "Does the colour of a room affect your mood?",
                "Somewhat: warm colours feel cosy, cool colours feel calm, but effects are small.",
            ),
            (
                "My partner's favourite colour is green, which clashes with our sofa.",
                "Green cushions or plants can tie it in without repainting anything.",
            ),
            (
                "Which colour of car is the easiest to keep clean?",
                "Silver and grey hide dust and scratches best.",
            ),
            (
                "Is there a colour that is good for a bedroom?",
                "Muted blues and greens are often recommended for sleep.",
            ),
            (
                "What colours go well with navy?",
                "White, grey, mustard and blush pink all pair well with navy.",
            ),
            (
                "My son says his favourite colour is orange this week.",
                "Children's favourites change often; orange is a cheerful pick.",
            ),
            (
                "Why do so many brands use blue in their logos?",
                "Blue reads as trustworthy and calm, which banks and tech firms like.",
            ),
            (
                "Which colour should I choose for my wedding invitations?",
                "Cream or white with one accent colour from your flowers is classic.",
            ),
        ),
    ),
    Subject(
        "allergy",
        ("My daughter is allergic to {v}.", "Please note that my daughter has an allergy to {v}."),
        (
            "The allergist said it's actually {v} my daughter reacts to.",
            "Correction about my daughter: her allergy is to {v}.",
        ),
        ("peanuts", "shellfish", "sesame", "kiwi", "eggs"),
        (
            "What is my daughter allergic to?",
            "Which food must my daughter avoid?",
            "What would give my little girl a reaction if she ate it?",
        ),
        (
            (
                "My daughter's school is planning a bake sale. Any easy recipes?",
                "Flapjacks and banana bread are easy and travel well.",
            ),
            (
                "How common are food allergies in children?",
                "Roughly one child in thirteen has a food allergy.",
            ),
            (
                "My daughter wants to start swimming lessons, at what age is that best?",
                "Most children can start proper lessons from four or five.",
            ),
            (
                "Her friend is allergic to cats, so they can't play at our place.",
                "Meeting at the park or at the friend's home is an easy way around it.",
            ),
            (
                "What should be in a first aid kit for a family trip?",
                "Plasters, antiseptic, painkillers, antihistamines and any personal medicines.",
            ),
            (
                "My daughter gets hay fever every spring.",
                "Antihistamines, showering after being outside and keeping windows shut help.",
            ),
            (
                "What foods cause the most allergies?",
                "Milk, soy, wheat, tree nuts, fish and a few others cause most of them.",
            ),
            (
                "My daughter is a picky eater, how do I get her to try new food?",
                "Offer small tastes next to food she likes, without pressure, many times.",
            ),
            (
                "Can children grow out of an allergy?",
                "Many do, especially of milk allergies; an allergist can test again.",
            ),
            (
                "My husband is allergic to penicillin.",
                "Make sure it is on his medical record and he tells every new doctor.",
            ),
        ),
    ),
    Subject(
        "car",
        ("My car's number plate is {v}.", "For the parking form: my plate is {v}."),
        (
            "We sold the old car, the new one's plate is {v}.",
            "Update: my car now has the plate {v}.",
        ),
        ("KX19 LMP", "BD68 RTY", "YF21 ZQA", "LN70 WKE"),
        (
            "What is my car's number plate?",
            "Which registration did I say my car has?",
            "What's the registration of my vehicle?",
        ),
        (
            (
                "My car makes a squeaking noise when I brake.",
                "Often worn brake pads; have them checked soon.",
            ),
            (
                "How often should I service my car?",
                "Once a year or every 10,000 to 12,000 miles, whichever comes first.",
            ),
            (
                "My neighbour parks his car across my driveway.",
                "A polite note first; if it continues, the council can help.",
            ),
            (
                "Is it worth buying an electric car this year?",
                "If you can charge at home and drive mostly short trips, usually yes.",
            ),
            (
                "Someone scratched my car in the supermarket car park.",
                "Check for cameras, ask the store, and report it if you want to claim.",
            ),
            (
                "How do I get my car ready for winter?",
                "Check the tyres, the battery, the antifreeze and keep a scraper in it.",
            ),
            (
                "My car insurance went up again, is that normal?",
                "Premiums rose for most drivers recently; comparing quotes often saves a lot.",
            ),
            (
                "What is the best way to sell a used car?",
                "Private sales get the most money, dealers are the least effort.",
            ),
            (
                "My car failed its inspection because of a light.",
                "A bulb is a cheap fix; many garages retest for free within a few days.",
            ),
        ),
    ),
    Subject(
        "appointment",
        ("My dentist appointment is on {v}.", "I've booked the dentist for {v}."),
        (
            "The dentist moved my appointment to {v}.",
            "My dentist appointment changed, it's on {v} now.",
        ),
        ("March 14", "April 2", "May 23", "June 9", "July 30"),
        (
            "When is my dentist appointment?",
            "What date did I book the dentist for?",
            "When do I get my teeth checked?",
        ),
        (
            (
                "How often should I go to the dentist?",
                "Every six to twelve months for most adults.",
            ),
            (
                "My dentist says I grind my teeth at night.",
                "A night guard protects the teeth; stress and caffeine can make it worse.",
            ),
            (
                "Is an electric toothbrush better than a manual one?",
                "Slightly, in studies; brushing well for two minutes matters most.",
            ),
            (
                "My son is scared of the dentist, how can I help?",
                "Read a picture book about it, and book a short first visit just to look around.",
            ),
            (
                "My tooth hurts when I drink something cold.",
                "Sensitive teeth are common; a sensitive toothpaste helps. Tell your dentist.",
            ),
            (
                "Do I need to floss if I use mouthwash?",
                "Yes: mouthwash does not remove what sits between the teeth.",
            ),
            (
                "My doctor's appointment is next week, what should I ask about my back?",
                "How long it should take to heal, what to avoid, and when to come back.",
            ),
            (
                "How much does teeth whitening cost?",
                "At a dentist a few hundred, home kits much less but with weaker results.",
            ),
            (
                "My wife has an appointment with the optician on Friday.",
                "Bring her current glasses and a list of any changes she noticed.",
            ),
        ),
    ),
)

FILLER_ASKS = (
    "Can you suggest a {a} recipe for a weeknight?",
    "What is a good way to learn about {a}?",
    "Explain {a} to me like I'm ten years old.",
    "I need three ideas for a weekend involving {a}.",
    "What are common mistakes people make with {a}?",
    "Give me a short summary of the history of {a}.",
    "How do {a} and {b} compare?",
    "Write a two-line poem about {a}.",
    "What should I read to get into {a}?",
    "Is {a} expensive to get started with?",
)
FILLER_TOPICS = (
    "sourdough",
    "chess",
    "jazz",
    "birdwatching",
    "pottery",
    "marathons",
    "tax returns",
    "spreadsheets",
    "houseplants",
    "astronomy",
    "camping",
    "podcasts",
    "knitting",
    "cycling",
    "Roman history",
    "budget travel",
    "board games",
    "photography",
    "composting",
    "yoga",
    "public speaking",
    "origami",
    "climbing",
    "soup",
    "coffee",
    "volcanoes",
    "tides",
    "bees",
)
FILLER_ANSWERS = (
    "Here are a few notes on {a}: start small, keep it regular, and enjoy the process. Most "
    "people who stick with it for a month find the first hard part is behind them.",
    "In short, {a} rewards patience. Most people get good results within a few weeks, and a "
    "friend who does it too makes it easier to keep going.",
    "A quick overview of {a}: the basics are simple, the details take years to master. Start "
    "with one good introduction, then practise a little every week.",
    "Good question. With {a}, the main thing is to avoid rushing the first steps. Take notes "
    "of what works for you; it saves time later.",
    "Sure. {a} is a broad subject; a beginner's guide and a local group are a fine start. "
    "Libraries often have both, for free.",
    "{a} is more approachable than it looks. Pick one small project, finish it, and decide "
    "from there whether you want to go further.",
)
FACT_ACKS = ("Noted.", "Got it, I'll keep that in mind.", "Thanks, noted.", "Okay, understood.")


@dataclass
class Question:
    text: str
    at: int  # the turn the question is asked at: the turns before it are the history
    position: int  # the turn holding the value the question needs (its latest statement)
    value: str
    stale: tuple[tuple[int, str], ...] = ()  # superseded statements: (position, value)
    paraphrase: bool = False  # asked in words the statements do not use


@dataclass
class Conversation:
    turns: list[tuple[int, str, str]] = field(default_factory=list)  # (position, user, answer)
    questions: list[Question] = field(default_factory=list)
    facts: dict[int, str] = field(default_factory=dict)  # statement of a fact → its subject


def _filler(rng: random.Random) -> tuple[str, str]:
    a, b = rng.sample(FILLER_TOPICS, 2)
    answer = rng.choice(FILLER_ANSWERS).format(a=a)
    return rng.choice(FILLER_ASKS).format(a=a, b=b), answer[0].upper() + answer[1:]


def conversation(
    rng: random.Random, turns: int, *, distractors: int = 8, corrected: int = 3
) -> Conversation:
    """One conversation of `turns` turns: every subject's fact planted once, `corrected` of
    them superseded by a later correction, `distractors` same-subject turns per subject
    (before and after the fact). Each fact is asked about twice: after the last turn, and
    at a random turn at least 10 after its first statement (before or after the correction:
    the value current then is the one needed)."""
    if turns < 100:
        raise ValueError("at least 100 turns: the subjects and their distractors need room")
    free = list(range(2, turns - 2))  # the first and the last two turns are small talk
    rng.shuffle(free)
    plan: dict[int, tuple[str, str]] = {}
    result = Conversation()
    fixed = set(rng.sample(range(len(SUBJECTS)), corrected))
    for index, subject in enumerate(SUBJECTS):
        value = rng.choice(subject.values)
        first = free.pop()
        plan[first] = (rng.choice(subject.facts).format(v=value), rng.choice(FACT_ACKS))
        result.facts[first] = subject.name
        statements = [(first, value)]
        later = [p for p in free if p > first + 5]
        if index in fixed and later:
            second = later[rng.randrange(len(later))]
            free.remove(second)
            new = rng.choice([v for v in subject.values if v != value])
            plan[second] = (rng.choice(subject.corrections).format(v=new), rng.choice(FACT_ACKS))
            result.facts[second] = subject.name
            statements.append((second, new))
        chosen = rng.sample(subject.distractors, min(distractors, len(subject.distractors)))
        for user, answer in chosen:
            plan[free.pop()] = (user, answer)
        asked_at = [turns + 1]
        if first + 10 <= turns:
            asked_at.append(rng.randint(first + 10, turns))
        for at in asked_at:
            current = [s for s in statements if s[0] < at]
            position, needed = current[-1]
            asked = rng.randrange(len(subject.questions))
            result.questions.append(
                Question(
                    subject.questions[asked],
                    at,
                    position,
                    needed,
                    tuple(current[:-1]),
                    paraphrase=asked == len(subject.questions) - 1,
                )
            )
    for position in range(1, turns + 1):
        user, answer = plan.get(position) or _filler(rng)
        result.turns.append((position, user, answer))
    return result
