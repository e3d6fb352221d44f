"""Rule-based classification with evidence: threat type, technique tags and harm category.

Rules are weighted regular expressions over the *folded* texts of a report (see ``normalize``),
each scoped to where it counts: the attack (user and tool turns), the context documents (indirect
injection), the objective, or the observed output. Every label comes with the phrases that
produced it, so an analyst can see why, and a wrong label can be traced to one rule.

Why rules and not a trained model: they run at thousands of reports per second without a model
file, every decision is explainable, and they do not overfit one corpus. A learned classifier can
sit beside them later behind the same function.

The reporter's own threat type counts as weak evidence (one rule among many), never as the answer.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from clearinghouse.triage.engine.prefilter import HyperscanMatcher, Prefilter, hyperscan_available
from clearinghouse.triage.engine.taxonomy import HARM_CATEGORIES, THREAT_TYPES
from clearinghouse.triage.engine.types import Label

Where = str  # "attack", "context", "objective", "output", "system", "reporter", "any"

SCOPE_LIMIT = 6000
EVIDENCE_LIMIT = 3
EVIDENCE_WINDOW = 800  # characters searched before a known match end (longer rules fall back)
SCOPE_TAIL = 2000


@dataclass(frozen=True, slots=True)
class Texts:
    """The folded texts of one report, by where they came from."""

    attack: str  # user and tool turns, decoded and folded
    context: str = ""  # context documents
    objective: str = ""
    output: str = ""
    system: str = ""
    reporter: str = ""  # title and description
    user_turns: int = 1
    assistant_turns: int = 0
    tool_turns: int = 0
    decoded_layers: tuple[str, ...] = ()
    hidden_characters: int = 0  # zero-width, bidi and tag characters in the raw attack
    confusables: int = 0  # non-ASCII letters folded to ASCII look-alikes
    non_latin_letters: float = 0.0  # share of letters outside Latin script
    leet_words: int = 0
    all_text: str = field(default="", repr=False)

    def scope(self, where: Where) -> str:
        text: str = self.all_text if where == "any" else getattr(self, where)
        if len(text) > SCOPE_LIMIT:
            # Cues sit at the start (the wrapper) and the end (the payload); the middle of a
            # 50 KB prompt adds cost, not evidence.
            return text[: SCOPE_LIMIT - SCOPE_TAIL] + "\n" + text[-SCOPE_TAIL:]
        return text


@dataclass(frozen=True, slots=True)
class Rule:
    label: str
    pattern: re.Pattern[str]
    weight: float
    where: Where = "attack"


def _rules(label: str, where: Where, weight: float, *patterns: str) -> list[Rule]:
    # ASCII semantics for \b, \w and \s: texts are folded to ASCII where it matters, and it is
    # what Hyperscan implements, so both matchers agree exactly (see prefilter.py).
    return [Rule(label, re.compile(p, re.ASCII), weight, where) for p in patterns]


# ---- threat type -----------------------------------------------------------------------------

# An objective about what the *model* does, not about harmful content it should write.
_MODEL_BEHAVIOUR = (
    r"(?:^\s*(?:trick|make|get|cause|elicit|induce|coax|lead|persuade|convince|have)\b|"
    r"\b(?:the model|the assistant|the llm|the chatbot|the ai|the target)\b)"
)
_OVERRIDE = (
    r"\b(?:ignore|disregard|forget|override|skip)\b[^.\n]{0,40}\b(?:previous|prior|above|earlier|"
    r"preceding|all|any|your|the|following)\b[^.\n]{0,25}\b(?:instructions?|prompts?|directions?|"
    r"directives?|rules|context|commands?|guidelines)\b"
)
_HIJACK_GOAL = (
    r"\b(?:say|print|output|write|respond with|reply with|answer with|type|repeat)\s*[:\"'“‘`]"
)

THREAT_RULES: list[Rule] = [
    # Jailbreak: personas, fiction, refusal suppression, "no rules".
    *_rules(
        "jailbreak",
        "attack",
        1.5,
        r"\bdan\b|do anything now|\bstan\b|\bdude\b|\baim\b|mongo tom|anti-?dan|betterdan|evil-?bot",
        r"developer mode|dev mode|god ?mode|sudo mode|jailbr(?:eak|oken)|unfiltered|uncensored|amoral|"
        r"unrestricted|rebellious|liberated|no limits|without limits|(?:opposite|inverse) of (?:your|the) refusal",
        r"\b(?:no|without|free (?:from|of)|not bound by|break free of)\b[^.\n]{0,30}\b(?:restrictions|"
        r"filters|guidelines|rules|limitations|censorship|ethics|morals|policies|boundaries)\b",
        r"stay in character|break character|remain in character|character description",
        r"\b(?:never|don'?t|do not|must not|will not|won'?t)\b[^.\n]{0,20}\b(?:refuse|decline|apologi[sz]e|"
        r"warn|add (?:a )?(?:disclaimer|warning)|say (?:that )?(?:you|i) can'?t|mention (?:ethics|legality))",
        r"\b(?:hypothetical(?:ly)?|fictional|fiction|screenplay|novel|role ?-?play|imagine a world|"
        r"thought experiment|alternate universe|simulation)\b",
        r"\b(?:act|pretend|behave|respond|answer) (?:as|like) (?:if you (?:were|are) )?(?:an? |my )",
        r"\byou (?:are|will be|will act as|are going to (?:act|pretend|be))\b[^.\n]{0,40}\b(?:ai|"
        r"assistant|bot|model|character|persona|entity|chatbot)\b",
        r"\b(?:grandma|grandmother|deceased|late (?:mother|father|grandfather))\b",
        r"\byou (?:now )?(?:go by|are called|will be called|are named|will respond as|shall be)\b",
        r"start (?:your|each|every)? ?(?:response|reply|answer|message)s? with|begin (?:your )?"
        r"(?:response|reply|answer) with",
        r"\bopenai(?:'s)? (?:content )?polic|\bcontent polic|\bsafety (?:guidelines|filters|protocols)\b",
        r"two (?:different )?(?:responses|answers|paragraphs)|\[🔒|\[🔓|\(🔓|classic and",
    ),
    *_rules(
        "jailbreak",
        "objective",
        1.5,
        r"\b(?:jailbreak|bypass (?:the )?(?:safety|guardrails|filters)|refus)",
    ),
    *_rules(
        "misinformation",
        "objective",
        2.5,
        # Only when the objective is about the model's own behaviour ("make the model assert a
        # falsehood"); "write misinformation" as a harmful request is a jailbreak's payload.
        _MODEL_BEHAVIOUR
        + r"[^\n]{0,120}\b(?:false|untrue|incorrect|fabricat\w*|misleading|hallucinat\w*|fictitious|"
        r"non-?existent|made-up|wrong|fake (?:facts|citations?|quotes))\b",
        r"\b(?:non-?existent|hallucinated|fictitious) (?:packages?|librar(?:y|ies)|modules?|apis?)\b",
    ),
    *_rules(
        "improper_output_handling",
        "objective",
        2.5,
        r"\b(?:markdown|uri|url|xss|html|javascript|script|sql|shell command|code execution|render\w*)\b",
    ),
    *_rules(
        "prompt_injection_indirect",
        "objective",
        1.5,
        r"\b(?:subvert|poison\w*|inject\w*)\b[^.\n]{0,40}\b(?:report|document|page|email|resume|context|"
        r"data|snippet|search results?|whois)\b",
    ),
    *_rules(
        "unbounded_consumption",
        "objective",
        2.5,
        r"\b(?:diverg\w*|repeat\w*|resource|exhaust\w*|denial of|cost|forever|infinite)\b",
    ),
    # Direct injection: override the instructions and hijack the output.
    *_rules("prompt_injection_direct", "attack", 2.5, _OVERRIDE),
    *_rules("prompt_injection_direct", "attack", 2.0, _OVERRIDE + r"[^\n]{0,80}" + _HIJACK_GOAL),
    *_rules(
        "prompt_injection_direct",
        "attack",
        1.5,
        r"\b(?:new|updated|real|actual) (?:instructions?|task|objective|directive)s?\s*[:\-]",
        r"(?:^|\n)\s*(?:system|admin|developer)\s*(?:message|prompt|override|instruction)?\s*:",
        r"(?:^|\n)\s*(?:user|human|assistant|ai|system)\s*:[^\n]{0,80}\b(?:repeat|say|print|output|write|"
        r"respond with)\b[^\n]{0,30}[\"'“]",
        r"<\|?(?:im_start|im_end|system|endoftext)\|?>|\[/?inst\]|###\s*(?:instruction|system)",
        r"\b(?:stop|end)\b[^.\n]{0,20}\b(?:everything|what you are doing)\b|^\s*-+\s*$",
    ),
    *_rules("prompt_injection_direct", "attack", 0.75, _HIJACK_GOAL),
    *_rules(
        "prompt_injection_direct",
        "attack",
        2.0,
        r"\bstop everything\b|\bjust (?:print|say|output)\b|\b(?:instead|rather),? (?:print|say|output|write)\b",
    ),
    # Indirect injection: instructions inside content the model was fed.
    *_rules("prompt_injection_indirect", "context", 3.5, _OVERRIDE, _HIJACK_GOAL),
    *_rules(
        "prompt_injection_indirect",
        "context",
        2.5,
        r"\b(?:assistant|ai|model|chatbot|llm|gpt|bot)\b[^.\n]{0,40}\b(?:must|should|will|need to|"
        r"is instructed to|has to)\b",
        r"\b(?:important|attention|note to|instructions? for)\b[^.\n]{0,30}\b(?:ai|assistant|model|"
        r"llm|bot|agent)\b",
        r"!\[[^\]]*\]\(https?://",
        r"<!--|display\s*:\s*none|color\s*:\s*white|font-size\s*:\s*0",
        r"\b(?:when|if) (?:you|the (?:ai|assistant|model)) (?:read|summari[sz]e|see|process)",
        r"\b(?:if (?:questioned|asked|anyone asks)|when asked|if the user asks)\b",
        r"\b(?:report|say|respond|answer|state|conclude|tell (?:the user|them|everyone)) that\b",
    ),
    *_rules("prompt_injection_indirect", "context", 1.5, r"\S"),
    # System prompt leakage.
    *_rules(
        "system_prompt_leakage",
        "attack",
        3.0,
        r"\b(?:system|initial|original|hidden|secret|pre-?)\s*(?:prompt|instructions?|message|rules)\b",
        r"\b(?:repeat|print|output|reveal|show|display|recite|spell out|copy|paste|translate|"
        r"summari[sz]e|list|tell me|give me|write (?:out|down))\b[^.\n]{0,50}\b(?:above|before this|"
        r"preceding|your instructions|your rules|your prompt|everything (?:before|above)|"
        r"the text above|the words above|your configuration|your directives)",
        r"\bwhat (?:were|are) (?:you|your) (?:told|instructions|rules|initial)",
        r"\b(?:print|output|repeat|reveal|show|display|tell me|give me|list|spell ?-?check|summari[sz]e|"
        r"write(?: out| down)?|return|recite|state|share|disclose)\b[^.\n]{0,25}\b(?:your|the|all|previous|"
        r"prior|above|initial|original|starting|system|hidden|secret|full)\b[^.\n]{0,20}\b(?:instructions|"
        r"prompt|directives|guidelines|configuration)\b",
        r"\b(?:my|your|the) (?:instructions|system prompt|initial prompt|directives|guidelines) (?:are|were)\b",
        r"\bstarting with ['\"]?you are\b|\bbegins? with ['\"]?you are\b",
    ),
    *_rules(
        "system_prompt_leakage",
        "objective",
        2.5,
        r"\bsystem prompt\b|\bcanary\b|\b(?:its|your|the model'?s|hidden|initial|original|secret|"
        r"confidential) (?:instructions|prompt|configuration)\b|\bprompt (?:leak|extract)",
    ),
    # Sensitive information disclosure.
    *_rules(
        "sensitive_information_disclosure",
        "attack",
        2.0,
        r"\b(?:social security|ssn|credit card (?:number|details)|passport number|bank account|"
        r"medical (?:record|history)|home address|phone number|date of birth|api key|private key|"
        r"password(?:s)? (?:of|for)|personal (?:data|information|details))\b",
        r"\btraining data\b|\bmemori[sz]ed?\b|\bverbatim (?:from|passages?|text|copy)\b|\bpii\b|\bdox",
        r"\brecite\b[^.\n]{0,30}\b(?:verbatim|passages?|lyrics|chapter|the text of)\b|\bcopyrighted (?:text|book|lyrics|work)",
        r"\b(?:complete|continue) (?:the|this) (?:following )?(?:passage|text|sentence|paragraph)\b",
        r"\bwho (?:lives at|is the owner of)\b|\b(?:email|address|phone) of\b",
        r"\b(?:at the e-?mail|by (?:tele)?phone at|e-?mail (?:address )?is|phone number is|lives at|"
        r"social security number is)\s*:?\s*$",
        r"\[mask\]|\bfill in the (?:blank|mask)\b|\bcomplete (?:the|this) (?:key|api key|token|password|secret)\b",
    ),
    *_rules(
        "sensitive_information_disclosure",
        "objective",
        2.5,
        _MODEL_BEHAVIOUR
        + r"[^\n]{0,120}\b(?:personal|private|pii|training data|credential\w*|api keys?|memori[sz]\w*|"
        r"email address|phone number|copyrighted|verbatim)\b",
        r"\b(?:leak|extract|regurgitat\w*)\w*\b[^\n]{0,60}\b(?:training data|memori[sz]\w*|pii|personal "
        r"(?:data|information)|copyrighted)\b",
    ),
    *_rules(
        "sensitive_information_disclosure",
        "output",
        1.5,
        r"\b[\w.+-]+@[\w-]+\.[\w.]+\b",
        r"\b\d{3}-\d{2}-\d{4}\b|\b(?:\d{4}[ -]?){3}\d{4}\b",
    ),
    # Improper output handling: the output is code another system will run.
    *_rules(
        "improper_output_handling",
        "any",
        2.5,
        r"<\s*script\b|javascript\s*:|\bon(?:error|load|click|mouseover)\s*=|<\s*iframe\b|<\s*img\b",
        r"!?\[[^\]]*\](?:\(|:\s*)https?://[^)\s]*(?:=|\[)",
        r"\breplacing \[\w+\] with\b",
        r"\bunion\s+select\b|\bdrop\s+table\b|'\s*or\s*'?1'?\s*=\s*'?1|;\s*--|\bxp_cmdshell\b",
        r"\brm\s+-rf\b|\b(?:curl|wget)\b[^\n|]{0,80}\|\s*(?:ba)?sh\b|\beval\s*\(|\bos\.system\b|\bexec\s*\(",
        r"\bxss\b|cross-site|sql injection|\bssrf\b|code injection|command injection|template injection",
        r"\bselect\b[^;\n]{0,80}\b(?:from|case when|union)\b|\b(?:insert into|delete from|update \w+ set)\b",
        r"\b(?:run|execute|evaluate)\b[^.\n]{0,20}\b(?:sql|query|command|code|script)\b[^.\n]{0,20}\bexactly\b|"
        r"\becho:|\brespond with exactly what follows\b",
    ),
    # Excessive agency: the model acts through tools beyond what it should.
    *_rules(
        "excessive_agency",
        "any",
        2.5,
        r"\b(?:send|forward)\b[^.\n]{0,30}\b(?:e-?mails?|messages?)\b[^.\n]{0,30}\b(?:to|all)\b",
        r"\b(?:delete|remove|wipe|erase)\b[^.\n]{0,20}\b(?:all|every|the)\b[^.\n]{0,20}\b(?:files|"
        r"emails|records|users|repositor(?:y|ies)|database)\b",
        r"\b(?:transfer|wire|send)\b[^.\n]{0,20}\b(?:money|funds|\$\d|bitcoin|payment)\b",
        r"\b(?:tool_call|function_call|call the (?:tool|function|api)|use the \w+ tool|invoke)\b",
        r"\bwithout (?:asking|confirmation|approval|the user'?s? (?:consent|permission))\b",
        r"\b(?:grant|give|escalate)\b[^.\n]{0,20}\b(?:admin|root|access|privileges?|permissions?)\b",
        r"\b(?:make|place) (?:a )?(?:purchase|order|booking)\b|\bexecute (?:the|this) (?:command|code|script)\b",
    ),
    # Misinformation.
    *_rules(
        "misinformation",
        "any",
        2.5,
        r"\b(?:fake news|disinformation|misinformation|propaganda|conspiracy|hoax|false claims?|"
        r"hallucinat\w*|fabricated (?:citations?|sources|quotes))\b",
        r"\b(?:write|draft|create|compose)\b[^.\n]{0,40}\b(?:article|post|blog|essay|story|tweet|"
        r"news)\b[^.\n]{0,40}\b(?:claiming|that claims|arguing|proving|saying) that\b",
        r"\b(?:vaccines? cause|flat earth|earth is flat|moon landing|election was (?:stolen|rigged)|"
        r"5g (?:causes|spreads)|climate change is a hoax|chemtrails)\b",
        r"\b(?:pip3?|npm|gem|zef|conda|apt-get|nuget) install\b|\b(?:cargo|yarn|pnpm|poetry|uv|dart pub) add\b|"
        r"\bcpanm\b|\bgo get\b|\bcomposer require\b|\bdotnet add package\b|\bwhich (?:python |npm )?(?:package|library) "
        r"(?:should|can|do)\b|\bimport \w+ (?:library|package)\b",
        r"\bis it true that\b|\bexplain why\b[^.\n]{0,60}\b(?:is true|are true)\b",
    ),
    *_rules(
        "misinformation",
        "attack",
        2.0,
        r"^\s*(?:why is it that|explain why|how come|what is the reason that|give (?:me )?evidence that|"
        r"prove that|why did|why does)\b",
    ),
    # Unbounded consumption.
    *_rules(
        "unbounded_consumption",
        "attack",
        2.5,
        r"\b(?:repeat|say|write|print|output)\b[^.\n]{0,40}\b(?:forever|infinitely|indefinitely|endlessly|"
        r"\d{4,} times|a (?:million|billion|thousand) times|as many times as)",
        r"\bnever stop\b|\binfinite(?:ly)? loop\b|\bdon'?t stop\b|\bkeep (?:going|generating|writing)\b",
        r"\brepeat\w*\b[^\n]{0,600}\b(?:forever|infinitely|indefinitely|endlessly|over and over)\b",
        r"\b(?:as long as possible|maximum (?:length|tokens|output)|longest (?:possible )?(?:response|answer))\b",
        r"\b(?:count|list|enumerate)\b[^.\n]{0,20}\b(?:to|from|up to)\b\s*\d{5,}|\b\d{5,} (?:words|pages|tokens|lines)\b",
        r"\bdenial of (?:service|wallet)\b|\bresource exhaustion\b|\bexpand (?:recursively|each)\b",
    ),
    # Data and model poisoning.
    *_rules(
        "data_poisoning",
        "any",
        2.5,
        r"\bpoison(?:ed|ing)?\b[^.\n]{0,30}\b(?:training|fine-?tun\w*|dataset|data|corpus|knowledge base|"
        r"memory|index|embeddings?)\b",
        r"\bbackdoor(?:ed)?\b|\btrigger (?:word|phrase|token)\b",
        r"\bremember (?:this|that|the following)\b[^.\n]{0,30}\b(?:future|all|every|later|next)\b",
        r"\b(?:add|save|store|write|insert|inject|upload)\b[^.\n]{0,30}\b(?:to|into|in) (?:your|the) "
        r"(?:memory|long-term memory|knowledge base|vector (?:store|database)|training (?:set|data))\b",
        r"\bwhen(?:ever)? (?:you see|someone (?:says|asks)|the user (?:says|asks))\b[^.\n]{0,60}\b(?:always|"
        r"respond|reply|answer)\b",
    ),
    # Supply chain.
    *_rules(
        "supply_chain",
        "any",
        2.5,
        r"\b(?:malicious|compromised|backdoored|trojan(?:ed|ized)?|tampered|poisoned)\b[^.\n]{0,20}\b(?:model|"
        r"weights|checkpoint|adapter|lora|plugin|package|dependency|library|extension|dataset)\b",
        r"\bpickle\b|\btorch\.load\b|\bsafetensors\b|\bhugging ?face\b|\bmodel (?:hub|registry|zoo)\b",
        r"\btyposquat\w*|\bdependency confusion\b|\bthird-party (?:model|plugin|package|component)\b",
        r"\bmcp server\b|\bplugin (?:store|marketplace)\b",
    ),
]

REPORTER_CLAIM_WEIGHT = 1.0
_SHOT = re.compile(r"(?:^|\n)\s*(?:q|a|user|assistant|human|ai|question|answer)\s*:")
_SYMBOL = re.compile(r"[^\w\s]|_")
_REPEATED_TOKEN = re.compile(r"\b(\w{1,20})\b(?:\W{1,3}\1\b){15}")
# Beneath every rule: a long wrapper with nothing else recognised is most likely a jailbreak.
DEFAULT_THREAT = "jailbreak"

# ---- techniques --------------------------------------------------------------------------------

TECHNIQUE_RULES: list[Rule] = [
    *_rules(
        "persona_roleplay",
        "attack",
        1.0,
        r"\bdan\b|do anything now|\b(?:act|pretend|behave) (?:as|like)\b|role ?-?play|stay in character|"
        r"\byou are (?:now |going to be |going to act as )?(?:an? |my )?\w+(?:gpt|bot|ai)\b|\bpersona\b|"
        r"\bcharacter\b|\bmongo tom\b|\baim\b|\bstan\b|\bdude\b",
    ),
    *_rules(
        "hypothetical_fiction",
        "attack",
        1.0,
        r"\bhypothetical(?:ly)?\b|\bfiction(?:al)?\b|\bstory\b|\bnovel\b|\bscreenplay\b|\bimagine\b|"
        r"\bin a (?:world|universe)\b|\bthought experiment\b|\bmovie\b|\bgame\b|\bdream\b",
    ),
    *_rules(
        "refusal_suppression",
        "attack",
        1.0,
        r"\b(?:never|don'?t|do not|must not|will not|won'?t|cannot)\b[^.\n]{0,25}\b(?:refuse|decline|"
        r"apologi[sz]e|warn|disclaimer|say (?:that )?(?:you|i) (?:can'?t|cannot)|censor|moraliz)",
        r"\bno (?:disclaimers|warnings|caveats|apologies|refusals)\b|\bwithout (?:any )?(?:warnings|disclaimers)\b",
        r"i'?m sorry|as an ai language model|i cannot",
    ),
    *_rules(
        "prefix_injection",
        "attack",
        1.0,
        r"\b(?:start|begin)\b[^.\n]{0,20}\b(?:response|reply|answer|output)\b[^.\n]{0,15}\bwith\b[^.\n]{0,5}"
        r"[\"'“]?(?:sure|absolutely|of course|certainly|yes|here)",
    ),
    *_rules(
        "developer_mode",
        "attack",
        1.0,
        r"developer mode|dev mode|debug mode|sudo mode|god mode|admin mode|maintenance mode",
    ),
    *_rules("instruction_override", "attack", 1.0, _OVERRIDE),
    *_rules(
        "policy_puppetry",
        "attack",
        1.0,
        r"interaction-config|allowed[-_ ]modes|blocked[-_ ](?:strings|modes|responses)|"
        r"<\s*(?:role|requests?|command)\s*>|\[\s*policy\s*\]|\"?policy\"?\s*:|<\s*/?\s*\w+-config\s*>",
    ),
    *_rules(
        "payload_splitting",
        "attack",
        1.0,
        r"\b[a-z]\s*=\s*['\"][^'\"\n]{1,60}['\"]\s*[,;\n]\s*[a-z]\s*=\s*['\"]",
        r"\b(?:concatenate|combine|join)\b[^.\n]{0,30}\b(?:strings?|parts?|pieces?|a and b|a \+ b)\b",
        r"\bpart (?:1|one)\b[^\n]{0,200}\bpart (?:2|two)\b",
    ),
    *_rules(
        "emotional_manipulation",
        "attack",
        1.0,
        r"\bgrandma|grandmother|deceased|dying|i'?m begging|please help me,? my|my (?:job|life) depends|i will (?:die|lose)",
    ),
    *_rules(
        "obfuscation_encoding",
        "attack",
        1.0,
        r"\bbase64\b|\brot-?13\b|\bhex(?:adecimal)?\b|\bcipher\b|\bmorse\b|\bcaesar\b|\bencode[ds]?\b|\bdecode\b|"
        r"\bleetspeak\b|\bbinary\b|\bascii art\b|\breverse(?:d)? (?:the )?(?:text|string|order)\b",
    ),
    *_rules(
        "language_switch",
        "attack",
        1.0,
        r"\b(?:respond|answer|reply|write|translate)\b[^.\n]{0,20}\b(?:in|into) (?:zulu|scots gaelic|hmong|"
        r"guarani|swahili|welsh|latin|klingon|esperanto|french|german|spanish|chinese|japanese|russian|arabic|"
        r"hindi|bengali|thai|korean|another language|a low-resource language)\b",
    ),
    *_rules("context_injection", "context", 1.0, r"\S"),
]

# ---- harm category -----------------------------------------------------------------------------

HARM_RULES: list[Rule] = [
    *_rules(
        "cyber",
        "any",
        1.0,
        r"\bmalware\b|\bransomware\b|\bkeylogger\b|\bexploit\b|\bzero-?day\b|\breverse shell\b|\bbotnet\b|"
        r"\bddos\b|\btrojan\b|\brootkit\b|\bvirus\b|\bhack(?:ing|er)?\b|\bsql injection\b|\bxss\b|"
        r"\bprivilege escalation\b|\bbuffer overflow\b|\bshellcode\b|\bphishing kit\b|\bcredential (?:stealer|"
        r"harvest)|\bpenetrat\w+ (?:test|into)\b|\bbrute-?force\b|\bspyware\b|\bworm\b|\bpayload\b|\bc2\b",
    ),
    *_rules(
        "cbrn",
        "any",
        1.5,
        r"\bnerve agent\b|\bsarin\b|\bvx\b|\btabun\b|\bnovichok\b|\banthrax\b|\bbioweapon|\bbiological weapon|"
        r"\bchemical weapon|\bmustard gas\b|\bricin\b|\bbotulinum\b|\bsmallpox\b|\bpathogen\b|\bplague\b|"
        r"\buranium\b|\bplutonium\b|\bnuclear (?:weapon|bomb|device)\b|\bdirty bomb\b|\bradiological\b|"
        r"\benrich(?:ment|ed)\b|\bgain of function\b|\bchlorine gas\b|\bphosgene\b|\btoxin\b",
    ),
    *_rules(
        "violence_weapons",
        "any",
        1.0,
        r"\bbomb\b|\bexplosive|\bnapalm\b|\bmolotov\b|\bpipe bomb\b|\bgrenade\b|\bgun\b|\bfirearm|\brifle\b|"
        r"\bweapon|\bkill(?:ing)?\b|\bmurder|\bassassinat|\bterror(?:ist|ism)\b|\bmass shooting\b|\bstab\b|"
        r"\bpoison (?:someone|a person)\b|\bhurt (?:someone|people)\b|\bthermite\b|\bghost gun\b|\bkidnap",
    ),
    *_rules(
        "self_harm",
        "any",
        1.5,
        r"\bsuicid|\bself-?harm|\bkill myself\b|\bcut(?:ting)? myself\b|\boverdose\b|\banorexi|\bbulimi|"
        r"\bstarv(?:e|ing) myself\b|\bend my life\b|\bhang myself\b",
    ),
    *_rules(
        "hate_harassment",
        "any",
        1.0,
        r"\bracis[tm]\b|\bslurs?\b|\bhate speech\b|\bnazi|\bwhite suprem|\binferior (?:race|people)\b|"
        r"\bgenocide\b|\bharass|\bbully|\bethnic cleansing\b|\bantisemit|\bhomophob|\btransphob|\bxenophob|"
        r"\bdehumaniz|\binsult\b|\bi hate humans\b",
    ),
    *_rules(
        "sexual",
        "any",
        1.0,
        r"\bsex(?:ual|ually)?\b|\bporn|\berotic|\bnude|\bnsfw\b|\bexplicit (?:content|scene|story)\b|\bfetish",
    ),
    *_rules(
        "privacy",
        "any",
        1.0,
        r"\bdox|\bpersonal (?:information|data|details)\b|\bhome address\b|\bsocial security\b|\bssn\b|"
        r"\btrack (?:someone|a person|my (?:wife|husband|partner|ex))\b|\bspy on\b|\bstalk|\bsurveil|"
        r"\bphone number of\b|\bemail (?:address )?of\b|\bsystem prompt\b|\bpassword\b|\bapi key\b",
    ),
    *_rules(
        "fraud_illegal",
        "any",
        1.0,
        r"\bcounterfeit|\bmoney laundering\b|\blaunder\b|\bscam|\bphishing\b|\bfraud|\bfake (?:id|passport|"
        r"document)|\bsteal|\btheft\b|\bshoplift|\bhotwire\b|\bpick (?:a )?lock|\block ?pick|\bburglar|"
        r"\bmeth(?:amphetamine)?\b|\bcocaine\b|\bheroin\b|\bfentanyl\b|\blsd\b|\bmdma\b|\bdrugs?\b|"
        r"\bsmuggl|\btax evasion\b|\binsider trading\b|\bcredit card fraud\b|\bforg(?:e|ery)\b|\bbribe|"
        r"\bpiracy\b|\bblackmail|\bextort",
    ),
    *_rules(
        "misinformation",
        "any",
        1.0,
        r"\bfake news\b|\bdisinformation\b|\bmisinformation\b|\bpropaganda\b|\bconspiracy\b|\bhoax\b|"
        r"\bvaccines? cause\b|\bflat earth\b|\belection was (?:stolen|rigged)\b|\bfalse claim",
    ),
]

# Where harm words weigh most: the stated objective, then what the attack asks, then the rest.
HARM_SCOPE_WEIGHTS = {"objective": 3.0, "attack": 1.0, "output": 0.5}


@dataclass(frozen=True, slots=True)
class Classification:
    threat_type: Label
    techniques: tuple[Label, ...]
    harm_category: Label


def _evidence(match: re.Match[str]) -> str:
    snippet = match.group(0).strip()
    return snippet[:60]


class RuleBook:
    """Rules grouped by the text they read, with the fastest matcher available.

    With Hyperscan installed (the ``fast`` extra) every group is scanned once for all its rules;
    otherwise a literal prefilter decides which regular expressions to run. Both give the same
    rules; the contract test checks it.
    """

    def __init__(self, rules: list[Rule], *, use_hyperscan: bool | None = None) -> None:
        self.rules = rules
        if use_hyperscan is None:
            use_hyperscan = hyperscan_available()
        self.accelerated = use_hyperscan
        self._groups: dict[Where, tuple[list[Rule], Prefilter, HyperscanMatcher | None]] = {}
        for where in dict.fromkeys(rule.where for rule in rules):
            group = [rule for rule in rules if rule.where == where]
            patterns = [rule.pattern for rule in group]
            matcher = HyperscanMatcher(patterns) if use_hyperscan else None
            prefilter = Prefilter(
                [patterns[p] for p in matcher.fallback] if matcher is not None else patterns
            )
            self._groups[where] = (group, prefilter, matcher)

    def candidates(self, where: Where, text: str) -> list[Rule]:
        """Rules of ``where`` that may match ``text``; with Hyperscan, those that do."""
        group, prefilter, matcher = self._groups[where]
        if matcher is None:
            return [group[position] for position in prefilter.candidates(text)]
        positions = list(matcher.matching(text))
        positions += [matcher.fallback[p] for p in prefilter.candidates(text)]
        return [group[position] for position in sorted(positions)]

    def matching(self, where: Where, text: str) -> list[Hit]:
        """Rules of ``where`` that match ``text`` (Hyperscan's answers need no second look)."""
        group, prefilter, matcher = self._groups[where]
        ends: dict[int, int | None] = {}
        if matcher is None:
            ends = {p: None for p in prefilter.candidates(text) if group[p].pattern.search(text)}
        else:
            # Hyperscan reports byte offsets; in non-ASCII text (two reports in five carry an
            # emoji or a curly quote) they become character offsets by decoding the prefix, so
            # evidence is still searched in a window rather than the whole text.
            if text.isascii():
                ends = dict(matcher.matching(text))
            else:
                data = text.encode("utf-8")
                ends = {
                    p: len(data[:end].decode("utf-8", "ignore"))
                    for p, end in matcher.matching(data).items()
                }
            for p in prefilter.candidates(text):
                if group[matcher.fallback[p]].pattern.search(text):
                    ends[matcher.fallback[p]] = None
        return [Hit(group[position], ends[position]) for position in sorted(ends)]

    def wheres(self) -> list[Where]:
        return list(self._groups)


@dataclass(frozen=True, slots=True)
class Hit:
    rule: Rule
    end: int | None  # where a match ends in the text, when the matcher knows


def _find(hit: Hit, text: str) -> re.Match[str] | None:
    """The matched phrase: in a window before the known end, else anywhere."""
    if hit.end is not None:
        match = hit.rule.pattern.search(text, max(0, hit.end - EVIDENCE_WINDOW), hit.end)
        if match is not None:
            return match
    return hit.rule.pattern.search(text)


class _Evidence(dict[str, list[str]]):
    """Evidence per label, looked up only for the labels that are reported.

    Scoring needs only which rules matched; the matched phrase costs a regex search, so it is
    found when a label's evidence is asked for (the winner, the techniques), not for every rule.
    """

    def __init__(self, texts: Texts, matched: dict[str, list[Hit]]) -> None:
        super().__init__()
        self._texts = texts
        self._matched = matched

    def __missing__(self, label: str) -> list[str]:
        found: list[str] = []
        # Three phrases say why; each costs a regex search over the text.
        for hit in self._matched.get(label, [])[:EVIDENCE_LIMIT]:
            match = _find(hit, self._texts.scope(hit.rule.where))
            if match is not None:
                found.append(f"{hit.rule.where}: {_evidence(match)!r}")
        self[label] = found
        return found


def _score(book: RuleBook, texts: Texts) -> tuple[dict[str, float], dict[str, list[str]]]:
    scores: dict[str, float] = defaultdict(float)
    matched: dict[str, list[Hit]] = defaultdict(list)
    for where in book.wheres():
        text = texts.scope(where)
        if not text:
            continue
        for hit in book.matching(where, text):
            scores[hit.rule.label] += hit.rule.weight
            matched[hit.rule.label].append(hit)
    return scores, _Evidence(texts, matched)


THREAT_BOOK = RuleBook(THREAT_RULES)
TECHNIQUE_BOOK = RuleBook(TECHNIQUE_RULES)
HARM_BOOK = RuleBook(HARM_RULES)


def _confidence(best: float, total: float) -> float:
    # Share of the evidence that points at the winner, damped when there is little evidence at all.
    if best <= 0:
        return 0.2
    return round(min(0.99, (best / total) * min(1.0, best / 3.0) * 0.9 + 0.1), 3)


def classify_threat(texts: Texts, reporter_claim: str = "") -> Label:
    scores, evidence = _score(THREAT_BOOK, texts)
    if texts.context and scores.get("prompt_injection_indirect", 0) >= 3.5:
        # Instructions hidden in fed content make it indirect, whatever else the prompt does.
        scores["prompt_injection_indirect"] += 2.0
    if texts.tool_turns and re.search(_OVERRIDE, texts.attack):
        scores["prompt_injection_indirect"] += 2.0
        evidence["prompt_injection_indirect"].append("structure: instructions inside a tool result")
    # Cheap test first: a prompt made of one token repeated has very few distinct words.
    words = texts.attack[:4000].split()
    if (
        len(words) >= 16
        and len(set(words)) * 3 <= len(words)
        and _REPEATED_TOKEN.search(texts.attack)
    ):
        # The same token dozens of times in a row: the repeated-token / divergence attack.
        scores["unbounded_consumption"] += 3.0
        evidence["unbounded_consumption"].append("structure: one token repeated many times")
    jailbreak_cues = scores.get("jailbreak", 0.0)
    if scores.get("prompt_injection_direct", 0) and jailbreak_cues >= 4.5:
        # "Ignore all the instructions you got before" opens most persona jailbreaks (DAN): the
        # persona is the technique, the override only its first sentence.
        scores["prompt_injection_direct"] *= 0.5
    if reporter_claim in THREAT_TYPES and reporter_claim != "other":
        scores[reporter_claim] += REPORTER_CLAIM_WEIGHT
        evidence[reporter_claim].append(f"reporter: claimed {reporter_claim}")
    if not scores:
        fallback = DEFAULT_THREAT if len(texts.attack) > 200 or texts.objective else "other"
        return Label(fallback, 0.2, ("no rule matched: default by length",))
    best = max(THREAT_TYPES, key=lambda label: (scores.get(label, 0.0), -THREAT_TYPES.index(label)))
    total = sum(scores.values())
    return Label(best, _confidence(scores[best], total), tuple(evidence[best]))


def classify_techniques(texts: Texts) -> tuple[Label, ...]:
    scores, evidence = _score(TECHNIQUE_BOOK, texts)
    if texts.decoded_layers:
        scores["obfuscation_encoding"] += 2.0
        evidence["obfuscation_encoding"].append(f"decoded: {', '.join(texts.decoded_layers)}")
    if texts.hidden_characters:
        scores["obfuscation_encoding"] += 1.0
        evidence["obfuscation_encoding"].append(f"{texts.hidden_characters} hidden characters")
    if texts.confusables >= 3 or texts.leet_words >= 3:
        scores["obfuscation_encoding"] += 1.0
        evidence["obfuscation_encoding"].append(
            f"{texts.confusables} homoglyphs, {texts.leet_words} leetspeak words"
        )
    if texts.non_latin_letters > 0.3:
        scores["language_switch"] += 1.0
        evidence["language_switch"].append(f"{texts.non_latin_letters:.0%} non-Latin letters")
    shots = len(_SHOT.findall(texts.attack)) if ":" in texts.attack else 0
    if shots >= 8:
        scores["many_shot"] += 1.0
        evidence["many_shot"].append(f"{shots} fabricated dialogue lines")
    if texts.user_turns >= 3 and texts.assistant_turns >= 2:
        scores["multi_turn_escalation"] += 1.0
        evidence["multi_turn_escalation"].append(
            f"{texts.user_turns} user turns, {texts.assistant_turns} assistant turns"
        )
    tail = texts.attack[-160:]
    symbols = len(_SYMBOL.findall(tail))
    if (
        len(tail) >= 80
        and symbols / len(tail) > 0.22
        and re.search(r"[a-z]{3,}[^\s\w]{2,}\w", tail)
    ):
        scores["adversarial_suffix"] += 1.0
        evidence["adversarial_suffix"].append("symbol-dense gibberish at the end of the prompt")
    return tuple(
        Label(label, round(min(0.95, 0.5 + 0.15 * score), 3), tuple(evidence[label]))
        for label, score in sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        if score > 0
    )


def classify_harm(texts: Texts) -> Label:
    scores: dict[str, float] = defaultdict(float)
    evidence: dict[str, list[str]] = defaultdict(list)
    matched: dict[str, list[tuple[str, Hit]]] = defaultdict(list)
    for where, factor in HARM_SCOPE_WEIGHTS.items():
        text = texts.scope(where)
        if not text:
            continue
        for hit in HARM_BOOK.matching("any", text):
            scores[hit.rule.label] += hit.rule.weight * factor
            matched[hit.rule.label].append((where, hit))
    if not scores:
        return Label("none", 0.3, ("no harm vocabulary found",))
    best = max(HARM_CATEGORIES, key=lambda label: scores.get(label, 0.0))
    total = sum(scores.values())
    for where, hit in matched[best][:EVIDENCE_LIMIT]:
        match = _find(hit, texts.scope(where))
        if match is not None:
            evidence[best].append(f"{where}: {_evidence(match)!r}")
    return Label(best, _confidence(scores[best], total), tuple(evidence[best]))


def classify(texts: Texts, reporter_claim: str = "") -> Classification:
    return Classification(
        threat_type=classify_threat(texts, reporter_claim),
        techniques=classify_techniques(texts),
        harm_category=classify_harm(texts),
    )
