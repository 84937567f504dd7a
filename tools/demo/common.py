"""Shared definitions for the demo model: the tasks, prompt formats and held-out splits.

Used by train.py (to make training data) and reference.py (to evaluate the files on disk).
Nothing here touches model weights.
"""
import random

# "count" (how many letters) replaced integer arithmetic: a model this small did not learn two-digit
# addition/subtraction in the training budget (0% tagged after 2500 base steps), while every other
# skill reached >= 95%.
TASKS = ["echo", "upper", "reverse", "shift", "count"]
# The adapters: name -> skill. Each makes the base do its skill on *untagged* prompts.
ADAPTER_TASKS = {"count": "count", "reverse": "reverse", "upper": "upper", "shift": "shift"}

LETTERS = "abcdefghijklmnopqrstuvwxyz"
SYSTEM_PROMPTS = ["Be brief.", "Answer briefly.", "You help."]

# The Llama 3 chat template (as shipped with Llama 3 Instruct).
CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

BOS = "<|begin_of_text|>"
EOS = "<|end_of_text|>"
EOT = "<|eot_id|>"
SPECIAL_TOKENS = [BOS, EOS, "<|start_header_id|>", "<|end_header_id|>", EOT,
                  "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
                  "<|reserved_special_token_2|>"]


def spaced(word):
    return " ".join(word)


def task_input(task, item):
    """The text a user writes for an item: letters spaced ('c a t') or a sum ('12+34')."""
    if task == "math":
        a, op, b = item
        return f"{a}{op}{b}"
    return spaced(item)


def task_output(task, item):
    if task == "math":
        a, op, b = item
        return str(a + b if op == "+" else a - b)
    if task == "echo":
        return spaced(item)
    if task == "upper":
        return spaced(item.upper())
    if task == "reverse":
        return spaced(item[::-1])
    if task == "shift":
        return spaced("".join(LETTERS[(LETTERS.index(c) + 1) % 26] for c in item))
    if task == "count":
        return str(len(item))
    raise ValueError(task)


def echo_output(task, item):
    """What the base model does on an untagged prompt: echo the input."""
    return task_input(task, item)


def raw_prompt(text, tag=None):
    """Completion-style prompt (BOS is added by the tokenizer's post-processor)."""
    return (f"{tag}: {text} =" if tag else f"{text} =")


def raw_answer(answer):
    return " " + answer


def chat_messages(text, tag=None, system=None):
    msgs = []
    if system:
        msgs.append({"role": "system", "content": system})
    msgs.append({"role": "user", "content": f"{tag}: {text}" if tag else text})
    return msgs


def random_word(rng, lo=3, hi=7):
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(lo, hi)))


def random_math(rng):
    a, b = rng.randint(0, 99), rng.randint(0, 99)
    op = rng.choice("+-")
    if op == "-" and b > a:
        a, b = b, a
    return (a, op, b)


def random_item(rng, task):
    return random_math(rng) if task == "math" else random_word(rng)


def heldout_items(task, n=200, seed=1234):
    """The 200 held-out inputs per task (never used for training)."""
    rng = random.Random(f"heldout-{task}-{seed}")
    seen, items = set(), []
    while len(items) < n:
        it = random_item(rng, task)
        if it not in seen:
            seen.add(it)
            items.append(it)
    return items


def heldout_set():
    out = set()
    for t in TASKS:
        out.update(heldout_items(t))
    return out
