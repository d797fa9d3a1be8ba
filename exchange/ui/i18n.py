"""Dutch first, English available: the words on the pages and how dates are written.

Labels use the terms the people who work with this know: signaal, casus, wijkteam,
huisbezoek. The result codes carry the national (DDAS) wording.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from exchange.clock import NETHERLANDS, local_date

LANGUAGES: Final = ("nl", "en")
MONTHS_NL: Final = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)  # fmt: skip

_TEXT: dict[str, tuple[str, str]] = {
    # Navigation and common words
    "app": ("Signalenuitwisseling", "Signal exchange"),
    "login": ("Inloggen", "Log in"),
    "logout": ("Uitloggen", "Log out"),
    "username": ("Gebruikersnaam", "Username"),
    "password": ("Wachtwoord", "Password"),
    "login_failed": ("Gebruikersnaam of wachtwoord klopt niet.", "Wrong username or password."),
    "login_oidc": ("Inloggen via uw organisatie", "Log in with your organisation"),
    # Why a login through the organisation's identity provider did not go through.
    "oidc_incomplete": (
        "Het inloggen via uw organisatie is niet afgerond. Probeer het opnieuw.",
        "The login with the identity provider did not complete. Please try again.",
    ),
    "oidc_unchecked": (
        "Het antwoord van uw organisatie klopte niet. Probeer het opnieuw of vraag uw beheerder.",
        "The identity provider's answer did not check out. Try again or ask your administrator.",
    ),
    "oidc_too_weak": (
        "Deze manier van inloggen is niet sterk genoeg voor deze pagina's. Log opnieuw in met "
        "een sterkere manier, bijvoorbeeld een app of een token in plaats van een wachtwoord.",
        "This login was not strong enough for these pages: log in again with a stronger "
        "method (for example an app or a token instead of a password).",
    ),
    "oidc_no_account": (
        "Er is hier geen account voor u. Vraag uw beheerder er een te maken.",
        "There is no account for you here; ask your administrator.",
    ),
    "oidc_unreachable": (
        "Uw organisatie is nu niet bereikbaar om in te loggen. Probeer het later opnieuw.",
        "The identity provider cannot be reached. Please try again later.",
    ),
    # %d: whole minutes until the next try (at least 1)
    "login_throttled": (
        "Te veel mislukte pogingen om in te loggen. Probeer het over %d minuten opnieuw.",
        "Too many failed login attempts. Try again in %d minutes.",
    ),
    "login_throttled_minute": (
        "Te veel mislukte pogingen om in te loggen. Probeer het over een minuut opnieuw.",
        "Too many failed login attempts. Try again in a minute.",
    ),
    "login_throttled_help": (
        "Weet u uw wachtwoord niet meer? Vraag uw beheerder om een nieuw wachtwoord.",
        "Forgotten your password? Ask your administrator for a new one.",
    ),
    "cases": ("Casussen", "Cases"),
    "my_cases": ("Mijn casussen", "My cases"),
    "overview": ("Overzicht", "Overview"),
    "audit": ("Logboek", "Audit log"),
    "access_report": ("Inzageverzoek", "Access request"),
    "log_status": ("Status logboek", "Log status"),
    "register": ("Verwerkingsregister", "Register of processing"),
    "consents": ("Toestemmingen", "Consents"),
    "filter": ("Filteren", "Filter"),
    "search": ("Zoeken", "Search"),
    "save": ("Opslaan", "Save"),
    "any": ("alle", "any"),
    "yes": ("ja", "yes"),
    "no": ("nee", "no"),
    "none": ("geen", "none"),
    "language": ("Taal", "Language"),
    "skip": ("Naar de inhoud", "Skip to content"),
    "forbidden": ("Geen toegang", "No access"),
    "forbidden_text": (
        "Deze pagina hoort niet bij uw rol.",
        "This page is not part of your role.",
    ),
    "not_found": ("Niet gevonden", "Not found"),
    "not_found_text": (
        "Deze casus bestaat niet of is niet aan u toegewezen.",
        "This case does not exist or is not assigned to you.",
    ),
    "denied": ("Niet toegestaan", "Not permitted"),
    "error": ("Er ging iets mis", "Something went wrong"),
    "back": ("Terug", "Back"),
    "print": ("Afdrukken", "Print"),
    "download": ("Downloaden", "Download"),
    # Queue
    "queue_intro": (
        "Crisissignalen eerst, daarna op termijn.",
        "Crisis signals first, then by deadline.",
    ),
    "status": ("Status", "Status"),
    "kind": ("Soort", "Kind"),
    "classification": ("Samenstelling", "Composition"),
    "crisis": ("Crisis", "Crisis"),
    "deadline": ("Termijn", "Deadline"),
    "overdue": ("Termijn verstreken", "Overdue"),
    "overdue_only": ("Alleen verstreken termijnen", "Overdue only"),
    "amount": ("Bedrag", "Amount"),
    "amount_min": ("Bedrag vanaf (€)", "Amount from (€)"),
    "amount_max": ("Bedrag tot (€)", "Amount up to (€)"),
    "pc4": ("Postcodegebied (PC4)", "Postcode area (PC4)"),
    "age_band": ("Leeftijd", "Age"),
    "opened": ("Binnengekomen", "Received"),
    "signals": ("Signalen", "Signals"),
    "no_cases": ("Geen casussen met deze filters.", "No cases match these filters."),
    "withheld": (
        "casus(sen) verborgen door een bezwaar of ingetrokken toestemming",
        "case(s) withheld because of an objection or withdrawn consent",
    ),
    "open_case": ("Open casus", "Open case"),
    # Case page
    "case": ("Casus", "Case"),
    "household": ("Huishouden", "Household"),
    "person": ("Persoon", "Person"),
    "address": ("Adres", "Address"),
    "contact": ("Contact", "Contact"),
    "phone": ("Telefoon", "Phone"),
    "email": ("E-mail", "E-mail"),
    "bsn": ("BSN", "BSN"),
    "birth_date": ("Geboortedatum", "Date of birth"),
    "arrears_since": ("Achterstand sinds", "In arrears since"),
    "days_in_arrears": ("Dagen achterstand", "Days in arrears"),
    "warm_handover": ("Warme overdracht", "Warm handover"),
    "provider_ref": ("Kenmerk melder", "Provider's reference"),
    "history": ("Geschiedenis", "History"),
    "contact_attempts": ("Contactpogingen", "Contact attempts"),
    "no_attempts": ("Nog geen contactpogingen.", "No contact attempts yet."),
    "assignments": ("Toewijzingen", "Assignments"),
    "assign": ("Toewijzen", "Assign"),
    "assign_to": ("Toewijzen aan", "Assign to"),
    "record_attempt": ("Contactpoging vastleggen", "Record a contact attempt"),
    "channel": ("Kanaal", "Channel"),
    "date": ("Datum", "Date"),
    "part_of_day": ("Dagdeel", "Part of day"),
    "reached": ("Bereikt", "Reached"),
    "note": ("Notitie (versleuteld opgeslagen)", "Note (stored encrypted)"),
    "close_case": ("Casus afsluiten", "Close the case"),
    "result": ("Resultaat", "Result"),
    "disclosure": ("Verstrekking", "Disclosure"),
    "disclosure_text": (
        "U ziet alleen wat uw regel in het verwerkingsregister toestaat",
        "You see only what your rule in the register of processing permits",
    ),
    "escalated": ("Geëscaleerd", "Escalated"),
    "saved_attempt": ("Contactpoging vastgelegd.", "Contact attempt recorded."),
    "saved_result": ("Casus afgesloten.", "Case closed."),
    "saved_assignment": ("Casus toegewezen.", "Case assigned."),
    "recorded_by": ("Door", "By"),
    # Privacy officer
    "audit_intro": (
        "Elke verstrekking en beslissing, met regel en grondslag. Zoek op persoon, organisatie, "
        "doel, handeling of periode.",
        "Every disclosure and decision, with rule and legal basis. Search by person, "
        "organisation, purpose, action or period.",
    ),
    "person_identity": ("Persoon (BSN)", "Person (BSN)"),
    "or_name": (
        "of achternaam, voorletters en geboortedatum; of allebei: dan vindt u alles wat bij "
        "een van beide hoort",
        "or surname, initials and date of birth; or both: then everything linked to either "
        "is found",
    ),
    "surname": ("Achternaam", "Surname"),
    "initials": ("Voorletters", "Initials"),
    "organisation": ("Organisatie", "Organisation"),
    "purpose": ("Doel", "Purpose"),
    "action": ("Handeling", "Action"),
    "from": ("Van", "From"),
    "to": ("Tot en met", "Up to and including"),
    "decision": ("Beslissing", "Decision"),
    "rule": ("Regel", "Rule"),
    "legal_basis": ("Grondslag", "Legal basis"),
    "when": ("Wanneer", "When"),
    "entry": ("Nr.", "No."),
    "no_entries": ("Geen regels gevonden.", "No entries found."),
    "audit_newest_first": ("Nieuwste eerst", "Newest first"),
    "audit_looked": (
        "{shown} gevonden in regels {low} tot en met {high} van het logboek.",
        "{shown} found in entries {low} to {high} of the log.",
    ),
    "audit_older": ("Oudere regels", "Older entries"),
    "report_for": ("Inzage voor", "Access report for"),
    "report_intro": (
        "Alle verstrekkingen van gegevens over deze persoon via de signalenuitwisseling.",
        "Every disclosure of data about this person through the signal exchange.",
    ),
    "refusals": ("geweigerde verzoeken", "refused requests"),
    "tree_size": ("Aantal regels", "Entries"),
    "latest_checkpoint": ("Laatste checkpoint", "Latest checkpoint"),
    "last_verification": ("Laatste controle", "Last verification"),
    "verify_now": ("Nu controleren", "Verify now"),
    "verified_ok": ("Het logboek klopt.", "The log verifies."),
    "verified_bad": ("Het logboek klopt NIET.", "The log does NOT verify."),
    "never": ("nog nooit", "never"),
    "version": ("Versie", "Version"),
    "consent_for": ("Toestemmingen van", "Consents of"),
    "no_consents": ("Geen toestemmingen vastgelegd.", "No consents recorded."),
    "objections": ("Bezwaren", "Objections"),
    "recipients": ("Ontvangers", "Recipients"),
    "valid": ("Geldig", "Valid"),
    # Rights of the person
    "rights": ("Rechten van betrokkene", "Data-subject rights"),
    "rights_intro": (
        "Verzoeken om rectificatie, beperking of wissing (AVG art. 16–18). Elke ontvanger "
        "van de gegevens krijgt bericht (art. 19).",
        "Requests for rectification, restriction or erasure (GDPR art. 16–18). Every "
        "recipient of the data is told (art. 19).",
    ),
    "request": ("Verzoek", "Request"),
    "request_rectification": ("Rectificatie", "Rectification"),
    "request_restriction": ("Beperking", "Restriction"),
    "request_erasure": ("Wissing", "Erasure"),
    "request_restriction_lifted": ("Beperking opheffen", "Lifting the restriction"),
    "new_phone": ("Juist telefoonnummer", "Correct phone number"),
    "new_email": ("Juist e-mailadres", "Correct e-mail address"),
    "new_surname": ("Juiste achternaam", "Correct surname"),
    "new_street": ("Juiste straat", "Correct street"),
    "new_city": ("Juiste woonplaats", "Correct town or city"),
    "new_postcode": ("Juiste postcode", "Correct postcode"),
    "new_house_number": ("Juist huisnummer", "Correct house number"),
    "new_house_number_addition": ("Juiste toevoeging", "Correct addition"),
    "invalid_corrections": (
        "Niets gewijzigd. Controleer dit veld",
        "Nothing changed. Check this field",
    ),
    "new_address_hint": (
        "Een andere postcode of een ander huisnummer zet de signalen van deze persoon bij het "
        "juiste adres. De gemeente en de aanbieder krijgen bericht.",
        "Another postcode or house number moves this person's signals to the right address. "
        "The municipality and the provider are told.",
    ),
    "not_movable_elsewhere": (
        "Niets gewijzigd: het juiste adres ligt in een andere gemeente dan die van de casus. "
        "De aanbieder stuurt een nieuw signaal met het juiste adres.",
        "Nothing changed: the correct address lies in another municipality than the case's. "
        "The provider sends a new signal with the correct address.",
    ),
    "not_movable_shared": (
        "Niets gewijzigd: op dit adres staan ook signalen van andere mensen, voor wie het adres "
        "wel klopt. De aanbieder stuurt een nieuw signaal met het juiste adres.",
        "Nothing changed: this address also holds signals of other people, for whom it is "
        "right. The provider sends a new signal with the correct address.",
    ),
    "reason": ("Toelichting (wordt niet bewaard)", "Reason (not stored)"),
    "carry_out": ("Uitvoeren", "Carry out"),
    "erasure_refused": (
        "Wissen kan nu niet: een wettelijke plicht gaat voor.",
        "Erasure is not possible now: a legal duty comes first.",
    ),
    "recipients_notified": ("Ontvangers bericht", "Recipients notified"),
    "rights_for": ("voor {whom}", "for {whom}"),
    "nothing_found": (
        "Geen gegevens gevonden voor {whom}. Controleer het BSN, of de naam en geboortedatum.",
        "No records found for {whom}. Check the BSN, or the name and date of birth.",
    ),
    "held_intro": ("Dit wordt bewaard over {whom}:", "Held about {whom}:"),
    "name_ambiguous": (
        "Let op: deze naam en geboortedatum horen bij meer dan één persoon met een BSN. "
        "Hier staat alleen wat op naam alleen binnenkwam. Vraag om het BSN om de rest te vinden.",
        "Note: this name and date of birth belong to more than one person with a BSN. Shown "
        "is only what came in by name alone. Ask for the BSN to find the rest.",
    ),
    "searched_by": ("Gezocht op", "Searched by"),
    "identifier_bsn": ("BSN", "BSN"),
    "identifier_name": ("naam en geboortedatum", "name and date of birth"),
    "held_signals": ("Signalen", "Signals"),
    "held_cases": ("Casussen", "Cases"),
    "held_open": ("lopend", "open"),
    "held_consents": ("Toestemmingen", "Consents"),
    "held_objections": ("Bezwaren", "Objections"),
    "held_restricted": ("Beperking van kracht", "Restriction in force"),
    "erasure_warning": (
        "Wissen kan niet ongedaan worden gemaakt. Bij een lopende casus gaat een wettelijke "
        "plicht mogelijk voor en wordt het wissen geweigerd.",
        "Erasure cannot be undone. While a case is open a legal duty may come first, and "
        "the erasure is then refused.",
    ),
    "confirm_erasure": ("Wissing bevestigen", "Confirm erasure"),
    "done_erasure": (
        "Alles wat over de persoon bewaard werd is gewist. Het logboek houdt zijn regels; "
        "die bevatten alleen pseudoniemen.",
        "Everything held about the person was erased. The audit log keeps its entries, which "
        "hold pseudonyms only.",
    ),
    "done_restriction": (
        "De gegevens blijven bewaard, maar worden aan niemand verstrekt zolang de beperking "
        "duurt; ook signalen die nog komen.",
        "The data stays stored, but is disclosed to nobody while the restriction lasts; "
        "signals that arrive later too.",
    ),
    "done_restriction_lifted": (
        "De beperking is opgeheven: het register beslist weer over elke verstrekking, en de "
        "organisaties die de gegevens ontvingen hebben bericht.",
        "The restriction is lifted: the register decides every disclosure again, and the "
        "organisations that received the data have a notice.",
    ),
    "no_restriction": (
        "Er is geen beperking van kracht voor {whom}.",
        "No restriction is in force for {whom}.",
    ),
    "done_moved": (
        "{n} signaal/signalen staan nu bij het juiste adres.",
        "{n} signal(s) now belong to the right address.",
    ),
    "done_rectification": (
        "Verbeterd in {n} signaal/signalen; de organisaties die ze ontvingen hebben bericht.",
        "Corrected in {n} signal(s); the organisations that received them have a notice.",
    ),
    # Overview
    "signals_per_month": ("Signalen per maand en soort", "Signals per month and kind"),
    "reach_rate": ("Bereikt", "Reach rate"),
    "acceptance_rate": ("Hulp geaccepteerd", "Help accepted"),
    "median_days": ("Mediaan dagen tot eerste contactpoging", "Median days to first attempt"),
    "share_overdue": ("Aandeel termijn verstreken", "Share overdue"),
    "channels_reached": ("Kanalen die mensen bereikten", "Channels that reached people"),
    # A count, rate or median over too few cases: words, never "< 10" (read as "under 10 days")
    "suppressed": ("te weinig om te tonen", "too few to show"),
    "period": ("Periode", "Period"),
    # The register of processing, for people (AVG art. 30(1)), and its rules for machines
    "register_intro": (
        "Welke gegevens de signalenuitwisseling over u verwerkt, waarvoor, wie ze krijgt en "
        "hoe lang ze bewaard blijven (AVG art. 30).",
        "What data the signal exchange processes about you, what for, who receives it and how "
        "long it is kept (GDPR art. 30).",
    ),
    "register_controller": ("Wie is verantwoordelijk", "Who is responsible"),
    "register_dpo": ("Functionaris gegevensbescherming", "Data protection officer"),
    "register_subjects": ("Over wie", "Whose data"),
    "register_purposes": ("Waarvoor de gegevens worden gebruikt", "What the data is used for"),
    "register_purposes_intro": (
        "Er wordt niets verstrekt tenzij een van deze doelen het toestaat. Maakt u bezwaar "
        "(AVG art. 21), dan wordt voor dat doel niets meer verstrekt.",
        "Nothing is disclosed unless one of these purposes allows it. If you object (GDPR "
        "art. 21), nothing more is disclosed for that purpose.",
    ),
    "register_data": ("Welke gegevens", "What data"),
    "register_recipients": ("Wie ze krijgt", "Who receives it"),
    "register_retention": ("Hoe lang bewaard", "How long it is kept"),
    "register_and": ("en", "and"),
    "register_under": ("op grond van", "under"),
    "register_after": ("na", "after"),
    "register_consent": ("alleen met uw toestemming", "only with your consent"),
    "register_counts": ("alleen aantallen", "counts only"),
    # {n}: the smallest group counted, in words ("tien")
    "register_counts_group": (
        "alleen aantallen, in groepen van ten minste {n}",
        "counts only, in groups of at least {n}",
    ),
    "register_status": ("alleen een statuscode", "a status code only"),
    "register_transfers": ("Doorgifte buiten Europa", "Transfers outside Europe"),
    "register_security": ("Beveiliging", "Security"),
    "register_not_stated": (
        "Niet vastgelegd in deze versie van het register.",
        "Not stated in this version of the register.",
    ),
    "register_rules_link": (
        "De regels zoals de systemen ze lezen (met veldnamen en versie)",
        "The rules as the systems read them (with field names and version)",
    ),
    "register_rules": ("Regels van het register", "Rules of the register"),
    "register_rules_intro": (
        "Voor wie het register controleert: per doel de regels met hun id, de ontvangers, "
        "handelingen en velden die ze toestaan.",
        "For those who check the register: per purpose its rules with their ids, and the "
        "recipients, actions and fields they allow.",
    ),
    "register_in_words": ("Het register in woorden", "The register in words"),
    "register_version_hash": ("Versie-hash", "Version hash"),
    "register_rule_actions": ("Handelingen", "Actions"),
    "register_rule_consent": ("Toestemming nodig", "Consent needed"),
    "register_rule_pseudonym": ("Pseudoniem", "Pseudonym"),
    "register_rule_fields": ("Velden", "Fields"),
    "register_rule_feedback": ("Terugmeldcodes", "Feedback codes"),
    "register_rule_groups": ("Alleen aantallen, kleinste groep", "Counts only, smallest group"),
    "register_retention_record": ("Bewaartermijn", "Retention"),
    "register_categories": ("Categorieën en hun velden", "Categories and their fields"),
    "register_purpose_categories": ("Categorieën", "Categories"),
    "register_fields": ("Velden", "Fields"),
    "register_kinds": ("Soorten ontvangers", "Recipient kinds"),
    # The overview's breakdowns and export
    # {n}: the smallest group shown, in words ("tien")
    "overview_intro_groups": (
        "Een aantal van minder dan {n}, of een percentage of mediaan over minder dan {n} "
        "casussen, wordt niet getoond: daar staat 'te weinig om te tonen'. Soms staat het ook "
        "bij een grotere groep, zodat niemand een klein aantal kan uitrekenen uit het totaal.",
        "A count under {n}, or a rate or median over fewer than {n} cases, is not shown: it "
        "reads 'too few to show'. Sometimes a larger group reads so too, so that nobody can "
        "work out a small count from the total.",
    ),
    "overview_period_error": (
        "Deze periode kan niet. Kijk bij de datums hieronder.",
        "This period cannot be used. See the dates below.",
    ),
    "overview_error_date": (
        "Vul een datum in, bijvoorbeeld 31-01-2026.",
        "Enter a date, for example 2026-01-31.",
    ),
    "overview_error_window": (
        "Deze datum ligt te ver in het verleden of de toekomst.",
        "This date is too far in the past or the future.",
    ),
    "overview_error_order": (
        "De begindatum ligt na de einddatum.",
        "The start date is after the end date.",
    ),
    "overview_error_length": (
        "Een overzicht gaat over ten hoogste 366 dagen. Kies een kortere periode.",
        "An overview covers at most 366 days. Choose a shorter period.",
    ),
    "overview_cases_total": ("Casussen", "Cases"),
    "overview_count": ("Aantal", "Count"),
    "overview_count_cases": ("Aantal casussen", "Number of cases"),
    "overview_count_signals": ("Aantal signalen", "Number of signals"),
    "overview_count_attempts": (
        "Contactpogingen die iemand bereikten",
        "Attempts that reached someone",
    ),
    "overview_month": ("Maand", "Month"),
    "overview_channel": ("Kanaal", "Channel"),
    "overview_by_team": (
        "Per wijkteam of schuldhulpverlener",
        "By neighbourhood team or debt service",
    ),
    "overview_by_team_intro": (
        "Bij wie de casus nu ligt.",
        "Who has the case now.",
    ),
    "overview_team_none": (
        "Bij de gemeente (niet toegewezen)",
        "With the municipality (not assigned)",
    ),
    "overview_by_pc4": ("Per wijk (postcodegebied)", "By neighbourhood (postcode area)"),
    "overview_pc4": ("Postcodegebied", "Postcode area"),
    "overview_pc4_none": ("Onbekend", "Unknown"),
    "overview_by_result": ("Per resultaat", "By result"),
    "overview_result_none": ("Nog geen resultaat", "No result yet"),
    "overview_key_figures": ("Kerncijfers", "Key figures"),
    "overview_no_rows": ("Niets te tellen in deze periode.", "Nothing to count in this period."),
    "overview_total": ("Totaal", "Total"),
    "overview_over_cases": ("over {n} casussen", "over {n} cases"),
    "overview_download": (
        "Overzicht downloaden (CSV, voor Excel)",
        "Download the overview (CSV, for Excel)",
    ),
    # Column headings of the export
    "overview_csv_section": ("Onderdeel", "Section"),
    "overview_csv_group": ("Groep", "Group"),
    "overview_csv_value": ("Waarde", "Value"),
    "overview_csv_basis": ("Aantal casussen waarover", "Number of cases it is over"),
    "overview_csv_about": ("Over dit overzicht", "About this overview"),
    "overview_csv_municipality": ("Gemeentecode", "Municipality code"),
    "overview_csv_minimum": ("Kleinste groep die getoond wordt", "Smallest group shown"),
    # Text alternatives of the charts; {months}, {kinds}, {n}: numbers
    "overview_chart_months": (
        "Staafdiagram over {months} maand(en) en {kinds} soort(en); de cijfers staan in de "
        "tabel eronder.",
        "Bar chart over {months} month(s) and {kinds} kind(s); the figures are in the table below.",
    ),
    "overview_chart_channels": (
        "Staafdiagram over {n} kanaal/kanalen; de cijfers staan in de tabel eronder.",
        "Bar chart over {n} channel(s); the figures are in the table below.",
    ),
    # (end of the overview's words)
    # Outreach from templates: letters, e-mail, text messages
    "outreach_title": ("Brief, e-mail of sms", "Letter, e-mail or text message"),
    "outreach_intro": (
        "Kies een tekst. U ziet eerst hoe die eruitziet. Daarna verstuurt u hem. "
        "De poging staat dan in de geschiedenis.",
        "Choose a text. You first see how it looks. Then you send it. "
        "The attempt then shows in the history.",
    ),
    "outreach_letter_home_visit": (
        "Brief: voorstel voor een huisbezoek",
        "Letter: proposing a home visit",
    ),
    "outreach_letter_call": ("Brief: voorstel om te bellen", "Letter: proposing a call"),
    "outreach_email": ("E-mail", "E-mail"),
    "outreach_sms": ("Sms", "Text message"),
    "outreach_pdf": ("Brief downloaden (pdf)", "Download the letter (PDF)"),
    "outreach_email_not_set_up": (
        "E-mail is nog niet ingesteld. Vraag uw beheerder om dit in te stellen.",
        "E-mail is not set up yet. Ask your administrator to set it up.",
    ),
    "outreach_sms_not_set_up": (
        "Sms is nog niet ingesteld. Vraag uw beheerder om dit in te stellen.",
        "Text messages are not set up yet. Ask your administrator to set them up.",
    ),
    "outreach_proposal": ("Uw voorstel", "Your proposal"),
    "outreach_proposed_date": ("Voorgestelde dag", "Proposed day"),
    "outreach_proposed_time": ("Tijd", "Time"),
    "outreach_language": ("Taal van de tekst", "Language of the text"),
    "outreach_update": ("Tekst bijwerken", "Update the text"),
    "outreach_preview": ("Zo ziet de tekst eruit", "This is how the text looks"),
    "outreach_to": ("Aan", "To"),
    "outreach_subject": ("Onderwerp", "Subject"),
    # %d: the number of characters of the text message
    "outreach_length": ("%d van de 160 tekens", "%d of 160 characters"),
    "outreach_send_email": ("E-mail versturen", "Send the e-mail"),
    "outreach_send_sms": ("Sms versturen", "Send the text message"),
    "outreach_record_letter": ("Brief is verstuurd: vastleggen", "Letter sent: record it"),
    "outreach_letter_hint": (
        "Download de brief en print hem. Stuur hem op. Leg daarna hier vast dat u hem "
        "verstuurd hebt.",
        "Download the letter and print it. Post it. Then record here that you sent it.",
    ),
    "outreach_send_hint": (
        "Na het versturen staat de poging in de geschiedenis van de casus.",
        "Once sent, the attempt shows in the history of the case.",
    ),
    "outreach_saved_letter": (
        "Brief vastgelegd als contactpoging.",
        "Letter recorded as a contact attempt.",
    ),
    "outreach_saved_email": (
        "E-mail verstuurd en vastgelegd als contactpoging.",
        "E-mail sent and recorded as a contact attempt.",
    ),
    "outreach_saved_sms_whatsapp": (
        "Sms verstuurd en vastgelegd als contactpoging.",
        "Text message sent and recorded as a contact attempt.",
    ),
    "outreach_failed_unreachable": (
        "Niet verstuurd: de mailserver of de sms-dienst is nu niet bereikbaar. Er is niets "
        "vastgelegd. Probeer het later nog eens.",
        "Not sent: the mail server or the text message service cannot be reached now. "
        "Nothing was recorded. Try again later.",
    ),
    "outreach_failed_refused": (
        "Niet verstuurd: de mailserver of de sms-dienst weigerde het bericht. Er is niets "
        "vastgelegd. Kijk of het adres of nummer klopt.",
        "Not sent: the mail server or the text message service refused the message. "
        "Nothing was recorded. Check the address or number.",
    ),
    "outreach_failed_destination": (
        "Niet verstuurd: deze server mag de mailserver of de sms-dienst niet bereiken. Er is "
        "niets vastgelegd. Vraag uw beheerder om dit na te kijken.",
        "Not sent: this server may not reach the mail server or the text message service. "
        "Nothing was recorded. Ask your administrator to check this.",
    ),
    "outreach_failed_recipient": (
        "Niet verstuurd: het telefoonnummer is geen geldig nummer. Er is niets vastgelegd.",
        "Not sent: the phone number is not a valid number. Nothing was recorded.",
    ),
    "outreach_failed_not_configured": (
        "Niet verstuurd: dit kanaal is nog niet ingesteld. Er is niets vastgelegd.",
        "Not sent: this channel is not set up yet. Nothing was recorded.",
    ),
    "outreach_sent_not_recorded": (
        "Het bericht is verstuurd. Maar de poging kon niet worden vastgelegd, want de casus "
        "is intussen veranderd. Leg de poging zelf vast.",
        "The message was sent. But the attempt could not be recorded, because the case "
        "changed in the meantime. Record the attempt yourself.",
    ),
    # %s: what the template asks for, in the words below (outreach_field_*)
    "outreach_refused_not_in_rule": (
        "Deze tekst gebruikt: %s. Dat gegeven ziet u niet volgens uw regel in het "
        "verwerkingsregister. Daarom kan de tekst niet worden gebruikt.",
        "This text uses: %s. Your rule in the register of processing does not show you that. "
        "So the text cannot be used.",
    ),
    "outreach_refused_never": (
        "Deze tekst gebruikt: %s. Dat hoort nooit in een brief, e-mail of sms.",
        "This text uses: %s. That never belongs in a letter, e-mail or text message.",
    ),
    "outreach_refused_unknown": (
        "Deze tekst gebruikt een onbekend veld: %s.",
        "This text uses an unknown field: %s.",
    ),
    "outreach_refused_syntax": (
        "Deze tekst is niet goed opgebouwd.",
        "This text is not well formed.",
    ),
    "outreach_refused_missing": (
        "Voor deze tekst ontbreekt: %s.",
        "This text needs something that is missing: %s.",
    ),
    "outreach_refused_too_long": (
        "De sms is te lang: %s tekens. Er passen er 160 in één sms.",
        "The text message is too long: %s characters. One text message holds 160.",
    ),
    "outreach_refused_admin": (
        "Vraag uw beheerder om de tekst of de instellingen van uw gemeente aan te passen.",
        "Ask your administrator to change the text or your municipality's settings.",
    ),
    "outreach_error_date": (
        "Kies een dag vanaf vandaag, binnen 90 dagen.",
        "Choose a day from today, within 90 days.",
    ),
    "outreach_error_time": (
        "Vul een tijd in, bijvoorbeeld 10:00.",
        "Fill in a time, for example 10:00.",
    ),
    "outreach_closed": (
        "Deze casus is afgesloten. Heropen hem eerst.",
        "This case is closed. Reopen it first.",
    ),
    "outreach_field_name": ("de naam", "the name"),
    "outreach_field_address": ("het adres", "the address"),
    "outreach_field_postcode_city": ("postcode en plaats", "postcode and city"),
    "outreach_field_phone": ("het telefoonnummer", "the phone number"),
    "outreach_field_email": ("het e-mailadres", "the e-mail address"),
    "outreach_field_amount": ("het precieze bedrag", "the exact amount"),
    "outreach_field_amount_band": ("het bedrag in een band", "the amount as a band"),
    "outreach_field_bsn": ("het BSN", "the BSN"),
    "outreach_field_birth_date": ("de geboortedatum", "the date of birth"),
    "outreach_field_external_ref": ("het kenmerk van de melder", "the provider's reference"),
    "outreach_field_team_phone": (
        "het telefoonnummer van uw team",
        "your team's phone number",
    ),
    "outreach_field_team_email": ("het e-mailadres van uw team", "your team's e-mail address"),
    "outreach_field_case_number": ("het casusnummer", "the case number"),
    # (end of the outreach words)
    # The household's story on the case page
    "story_title": ("Het verhaal van het huishouden", "The household's story"),
    "story_notices": ("Wat er is veranderd", "What has changed"),
    "story_creditors": ("Wie meldde", "Who signalled"),
    "story_since": ("sinds", "since"),
    "story_kinds": ("Gemeld", "Signalled"),
    "story_names_not_in_rule": (
        "Uw regel in het verwerkingsregister toont niet wie de melding deed.",
        "Your rule in the register of processing does not show who signalled.",
    ),
    "story_no_creditors": ("Geen signalen om te tonen.", "No signals to show."),
    "story_other_cases": ("Andere casussen van dit huishouden", "Other cases of this household"),
    "story_no_other_cases": (
        "Dit huishouden heeft geen andere casussen.",
        "This household has no other cases.",
    ),
    "story_earlier": ("Eerdere", "Earlier"),
    "story_later": ("Latere", "Later"),
    "story_opened": ("geopend", "opened"),
    "story_closed": ("afgesloten", "closed"),
    "story_earlier_not_yours": (
        "eerdere casus (niet bij u in behandeling)",
        "earlier case (not handled by you)",
    ),
    "story_later_not_yours": (
        "latere casus (niet bij u in behandeling)",
        "later case (not handled by you)",
    ),
    "story_earlier_withheld": (
        "eerdere casus (de gegevens mogen niet worden getoond)",
        "earlier case (its data may not be shown)",
    ),
    "story_later_withheld": (
        "latere casus (de gegevens mogen niet worden getoond)",
        "later case (its data may not be shown)",
    ),
    "story_queue_notices": ("Meldingen over gegevens", "Notices about data"),
    # (end of the household story's words)
    # Casework: the queue, hand-over, the case page's forms
    "queue_fix_fields": (
        "Niet alle filters konden worden gebruikt. Kijk bij de velden hieronder.",
        "Not every filter could be used. See the fields below.",
    ),
    "my_views": ("Mijn werkbakjes", "My work lists"),
    "view_default": ("Alle open casussen", "All open cases"),
    "view_name": ("Naam voor deze lijst", "Name for this list"),
    "view_save": ("Bewaar als werkbakje", "Save as a work list"),
    "view_delete": ("Verwijder", "Delete"),
    "view_saved": ("Werkbakje bewaard.", "Work list saved."),
    "view_deleted": ("Werkbakje verwijderd.", "Work list deleted."),
    "view_needs_name": ("Geef het werkbakje een naam.", "Give the work list a name."),
    "case_number": ("Casusnummer", "Case number"),
    "creditor": ("Schuldeiser", "Creditor"),
    "team": ("Team", "Team"),
    "street": ("Straat", "Street"),
    "neighbourhood": ("Wijk (PC4)", "Neighbourhood (PC4)"),
    "filter_clear": ("Filters wissen", "Clear filters"),
    "of": ("van", "of"),
    "cases_lower": ("casussen", "cases"),
    "case_lower": ("casus", "case"),
    "export_csv": ("Download als CSV", "Download as CSV"),
    "pages": ("Pagina's", "Pages"),
    "page": ("Pagina", "Page"),
    "page_previous": ("Vorige", "Previous"),
    "page_next": ("Volgende", "Next"),
    "error_amount": (
        "Schrijf een bedrag in hele euro's, bijvoorbeeld 1.000 of 250.",
        "Write an amount in whole euros, for example 1,000 or 250.",
    ),
    "error_amount_range": (
        "Het bedrag 'tot' is lager dan het bedrag 'vanaf'.",
        "The 'up to' amount is below the 'from' amount.",
    ),
    "error_pc4": (
        "Een postcodegebied is vier cijfers, bijvoorbeeld 1011. Meer gebieden: met een spatie.",
        "A postcode area is four digits, for example 1011. More areas: separate with a space.",
    ),
    "error_case_number": (
        "Een casusnummer ziet er zo uit: 0599-2026-000123.",
        "A case number looks like this: 0599-2026-000123.",
    ),
    "error_team": ("Kies een team uit de lijst.", "Choose a team from the list."),
    "error_page": (
        "Dat paginanummer bestaat niet; u ziet pagina 1.",
        "No such page; this is page 1.",
    ),
    "withheld_restricted": (
        "casus(sen) verborgen: de persoon heeft gevraagd de verwerking te beperken",
        "case(s) withheld: the person asked to restrict the processing",
    ),
    "withheld_objected": (
        "casus(sen) verborgen: de persoon heeft bezwaar gemaakt",
        "case(s) withheld: the person objected",
    ),
    "withheld_withdrawn": (
        "casus(sen) verborgen: de persoon heeft de toestemming ingetrokken",
        "case(s) withheld: the person withdrew their consent",
    ),
    "withheld_no_consent": (
        "casus(sen) verborgen: er is geen toestemming van de persoon",
        "case(s) withheld: there is no consent of the person",
    ),
    "withheld_no_rule": (
        "casus(sen) verborgen: het verwerkingsregister staat het niet toe",
        "case(s) withheld: the register does not permit it",
    ),
    "withheld_no_fields": (
        "casus(sen) verborgen: het verwerkingsregister staat het niet toe",
        "case(s) withheld: the register does not permit it",
    ),
    "withheld_refused": (
        "casus(sen) verborgen: het verwerkingsregister staat het niet toe",
        "case(s) withheld: the register does not permit it",
    ),
    "bulk_choose": ("Kies", "Choose"),
    "bulk_title": ("Gekozen casussen", "Chosen cases"),
    "bulk_hand_over_to": ("Overdragen aan", "Hand over to"),
    "bulk_how": ("Hoe", "How"),
    "bulk_apply": ("Uitvoeren", "Apply"),
    "mode_hand_over": ("overdragen (de vorige stopt)", "hand over (the earlier one stops)"),
    "mode_co_worker": ("als medebehandelaar erbij", "add as co-worker"),
    "bulk_done": (
        "%d casus(sen) overgedragen; %d niet (bijvoorbeeld omdat toestemming ontbreekt).",
        "%d case(s) handed over; %d not (for example because consent is missing).",
    ),
    "bulk_none_chosen": ("Kies eerst een of meer casussen.", "Choose one or more cases first."),
    "bulk_bad_target": ("Kies aan wie u overdraagt.", "Choose whom to hand over to."),
    "case_form_refused": (
        "Dit is niet opgeslagen. Wat u invulde staat er nog.",
        "This was not saved. What you filled in is still there.",
    ),
    "case_form_see": ("Naar het formulier", "Go to the form"),
    "case_error_date_future": ("Die datum ligt in de toekomst.", "That date lies in the future."),
    "case_error_date_before_case": (
        "Die datum ligt vóór de dag dat het signaal binnenkwam.",
        "That date lies before the day the signal came in.",
    ),
    "case_error_date": ("Vul een datum in.", "Fill in a date."),
    "case_error_channel": ("Kies hoe u contact zocht.", "Choose how you made contact."),
    "case_error_note": (
        "De notitie is te lang (hoogstens 2000 tekens).",
        "The note is too long (2,000 characters at most).",
    ),
    "case_error_sent_not_answered": (
        "Een brief of kaartje wordt verstuurd, niet beantwoord. Kwam er antwoord? "
        "Leg dat vast als nieuwe poging, bijvoorbeeld telefoon.",
        "A letter or card is sent, not answered. Did a reply come? Record it as a new "
        "attempt, for example by phone.",
    ),
    "case_error_result_not_yet": (
        "Dit resultaat kan nog niet. Regel:",
        "This result is not possible yet. Rule:",
    ),
    "case_error_result": ("Kies een resultaat.", "Choose a result."),
    "case_error_needs_consent": (
        "Overdragen aan de schuldhulpverlener kan pas als de inwoner toestemming gaf. "
        "Leg de toestemming hieronder vast.",
        "Handing over to the debt service needs the person's consent first. Record it below.",
    ),
    "case_error_not_permitted": (
        "Het verwerkingsregister staat dit niet toe.",
        "The register does not permit this.",
    ),
    "case_error_not_assignable": (
        "Kies een team of schuldhulpverlener uit de lijst.",
        "Choose a team or debt service from the list.",
    ),
    "case_error_already_assigned": (
        "Deze organisatie werkt al aan de casus.",
        "This organisation works on the case already.",
    ),
    "case_error_reopen_late": (
        "Deze casus is te lang geleden gesloten om te heropenen. Een nieuw signaal opent "
        "een nieuwe casus.",
        "This case closed too long ago to reopen. A new signal opens a new case.",
    ),
    "case_error_status_changed": (
        "De casus is intussen veranderd. Bekijk de stand hierboven.",
        "The case changed in the meantime. See where it stands above.",
    ),
    "case_error_field": ("Dit veld klopt niet.", "This field is not right."),
    "case_error_refused": ("Dit kon niet worden opgeslagen.", "This could not be saved."),
    "case_error_consent_confirm": (
        "Vink aan dat de inwoner hiermee instemde.",
        "Tick that the person agreed to this.",
    ),
    "reached_question": ("Heeft u de inwoner gesproken?", "Did you speak to the person?"),
    "sent_hint": (
        "Bij een brief of kaartje: niet van toepassing.",
        "For a letter or card: does not apply.",
    ),
    "sent": ("verstuurd", "sent"),
    "not_reached": ("niet bereikt", "not reached"),
    "since": ("sinds", "since"),
    "acts": ("Wie deed wat", "Who did what"),
    "end_assignment": ("Toewijzing beëindigen", "End assignment"),
    "result_rules": ("Wanneer kan welk resultaat?", "When is which result possible?"),
    "close_confirm_title": ("Casus echt afsluiten?", "Really close the case?"),
    "close_confirm_text": ("U sluit de casus af met het resultaat:", "You close the case with:"),
    "close_confirm_yes": ("Ja, afsluiten", "Yes, close it"),
    "close_confirm_no": ("Nee, terug", "No, go back"),
    "reopen": ("Casus heropenen", "Reopen the case"),
    "reopen_text": (
        "De casus is kort geleden gesloten. Is er toch meer te doen? Open hem weer.",
        "The case closed recently. Is there more to do after all? Open it again.",
    ),
    "give_back": ("Casus teruggeven", "Give the case back"),
    "give_back_text": (
        "Teruggeven aan de gemeente: daarna ziet u deze casus niet meer.",
        "Give it back to the municipality: after that you no longer see this case.",
    ),
    "door_consent": ("Toestemming voor doorverwijzing", "Consent to a referral"),
    "door_consent_text": (
        "Wil de inwoner hulp van een schuldhulpverlener? Leg hier de toestemming vast. "
        "Daarna kunt u de casus overdragen.",
        "Does the person want help from a debt service? Record the consent here. Then you "
        "can hand the case over.",
    ),
    "door_consent_for": ("Schuldhulpverlener", "Debt service"),
    "door_consent_how": ("Hoe gegeven", "How given"),
    "door_consent_language": ("Taal van de uitleg", "Language of the notice"),
    "door_consent_confirm": (
        "De inwoner stemde er met zoveel woorden mee in dat zijn gegevens naar deze "
        "schuldhulpverlener gaan.",
        "The person agreed in so many words that their details go to this debt service.",
    ),
    "door_consent_save": ("Toestemming vastleggen", "Record consent"),
    "door_consent_withdraw": (
        "De inwoner trekt deze toestemming in",
        "The person withdraws this consent",
    ),
    "saved_consent": ("Toestemming vastgelegd.", "Consent recorded."),
    "saved_consent_withdrawn": ("Intrekking vastgelegd.", "Withdrawal recorded."),
    "saved_handed_over": (
        "Casus overgedragen. U ziet hem niet meer.",
        "Case handed over. You no longer see it.",
    ),
    "saved_given_back": (
        "Casus teruggegeven. U ziet hem niet meer.",
        "Case given back. You no longer see it.",
    ),
    "saved_assignment_ended": ("Toewijzing beëindigd.", "Assignment ended."),
    "saved_reopened": ("Casus heropend.", "Case reopened."),
    "sort_by": ("Sorteren op", "Sort by"),
    "sort_direction": ("Volgorde", "Order"),
    "sort_asc": ("oplopend", "ascending"),
    "sort_desc": ("aflopend", "descending"),
    "bulk_letters_title": ("Brieven voor de gekozen casussen", "Letters for the chosen cases"),
    "bulk_letter_template": ("Brief", "Letter"),
    "bulk_letter_home_visit": ("voorstel huisbezoek", "proposing a home visit"),
    "bulk_letter_call": ("voorstel telefoongesprek", "proposing a call"),
    "bulk_letters_make": ("Maak brieven (PDF)", "Make letters (PDF)"),
    "bulk_letters_hint": (
        "Eén PDF om te printen. Elke brief staat daarna als contactpoging bij de casus.",
        "One PDF to print. Each letter is then on its case as a contact attempt.",
    ),
    "bulk_no_letters": (
        "Voor geen van de gekozen casussen kon een brief worden gemaakt.",
        "No letter could be made for any of the chosen cases.",
    ),
    # (end of the casework words)
}

LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "sort": {
        "urgency": ("urgentie (crisis, dan termijn)", "urgency (crisis, then deadline)"),
        "number": ("casusnummer", "case number"),
        "status": ("status", "status"),
        "classification": ("samenstelling", "composition"),
        "kind": ("soort", "kind"),
        "amount": ("bedrag", "amount"),
        "age": ("leeftijd", "age"),
        "pc4": ("wijk (PC4)", "neighbourhood (PC4)"),
        "team": ("team", "team"),
        "deadline": ("termijn", "deadline"),
        "opened": ("binnengekomen", "received"),
    },
    "assignment_role": {
        "lead": ("behandelaar", "lead"),
        "co_worker": ("medebehandelaar", "co-worker"),
    },
    "ended_reason": {
        "handed_over": ("overgedragen", "handed over"),
        "ended": ("beëindigd", "ended"),
    },
    "act": {
        "assigned": ("overgedragen aan", "handed over to"),
        "co_worker_added": ("medebehandelaar erbij", "co-worker added"),
        "assignment_ended": ("toewijzing beëindigd", "assignment ended"),
        "attempt": ("contactpoging vastgelegd", "contact attempt recorded"),
        "closed": ("afgesloten", "closed"),
        "reopened": ("heropend", "reopened"),
        "consent_recorded": ("toestemming vastgelegd voor", "consent recorded for"),
        "consent_withdrawn": ("toestemming ingetrokken", "consent withdrawn"),
    },
    "consent_status": {
        "given": ("gegeven", "given"),
        "withdrawn": ("ingetrokken", "withdrawn"),
        "expired": ("verlopen", "expired"),
        "revoked": ("vervallen", "revoked"),
    },
    "collection_method": {
        "in_person": ("persoonlijk (huisbezoek)", "in person"),
        "phone": ("telefonisch", "by phone"),
        "letter": ("per brief", "by letter"),
        "digital": ("digitaal", "digitally"),
    },
    "organisation_kind": {
        "housing_corporation": ("woningcorporatie", "housing corporation"),
        "energy_supplier": ("energieleverancier", "energy supplier"),
        "water_company": ("waterbedrijf", "water company"),
        "health_insurer": ("zorgverzekeraar", "health insurer"),
        "other_creditor": ("andere schuldeiser", "other creditor"),
        "municipality": ("gemeente", "municipality"),
        "neighbourhood_team": ("wijkteam", "neighbourhood team"),
        "debt_service": ("schuldhulpverlener", "debt service"),
        "privacy_officer": ("functionaris gegevensbescherming", "data protection officer"),
    },
    "status": {
        "open": ("nieuw", "new"),
        "assigned": ("toegewezen", "assigned"),
        "in_contact": ("in contact", "in contact"),
        "closed": ("afgesloten", "closed"),
    },
    "classification": {
        "single": ("enkelvoudig", "single"),
        "multiple": ("meervoudig", "multiple"),
        "repeat": ("herhaald", "repeat"),
    },
    "kind": {
        "rent": ("huur", "rent"),
        "energy": ("energie", "energy"),
        "water": ("water", "water"),
        "health_insurance": ("zorgverzekering", "health insurance"),
        "mortgage": ("hypotheek", "mortgage"),
        "tax": ("belasting", "tax"),
        "benefits_recovery": ("toeslagen", "benefits recovery"),
        "student_debt": ("studieschuld", "student debt"),
        "other": ("overig", "other"),
    },
    "channel": {
        "letter": ("brief", "letter"),
        "phone": ("telefoon", "phone"),
        "sms_whatsapp": ("sms/WhatsApp", "text/WhatsApp"),
        "email": ("e-mail", "e-mail"),
        "home_visit": ("huisbezoek", "home visit"),
        "card": ("kaartje", "card"),
        "other": ("anders", "other"),
        "administrative": ("administratief", "administrative"),
    },
    "part_of_day": {
        "morning": ("ochtend", "morning"),
        "afternoon": ("middag", "afternoon"),
        "evening": ("avond", "evening"),
    },
    "deadline_kind": {
        "first_contact_attempt": ("eerste contactpoging", "first contact attempt"),
        "first_conversation": ("eerste gesprek", "first conversation"),
    },
    "decision": {
        "permit": ("toegestaan", "permitted"),
        "deny": ("geweigerd", "denied"),
        "recorded": ("vastgelegd", "recorded"),
    },
    "result": {
        "already_known_to_debt_help": (
            "Inwoner al bekend bij schuldhulpverlening",
            "Already known to debt help",
        ),
        "other_trajectory_running": (
            "Inwoner heeft al een ander lopend traject",
            "Another trajectory is running",
        ),
        "no_contact_possible": ("Definitief geen contact kunnen krijgen", "No contact possible"),
        "no_reply_after_contact": ("Geen reactie na eerder contact", "No reply after contact"),
        "no_help_needed": ("Inwoner hoeft geen hulp vanuit vroegsignalering", "No help needed"),
        "paid_or_arranged": (
            "Inwoner heeft zelf al betaald/betalingsregeling getroffen",
            "Paid or arranged payment",
        ),
        "budget_advice_or_quick_fix": (
            "(Budget)advies en/of quick fix",
            "Budget advice or quick fix",
        ),
        "follow_up_financial": (
            "Vervolghulp en/of verwijzing financieel",
            "Follow-up help, financial",
        ),
        "referral_without_contact": ("Verwijzing zonder contact", "Referral without contact"),
        "follow_up_non_financial": (
            "Vervolghulp en/of verwijzing niet financieel",
            "Follow-up help, non-financial",
        ),
        "not_picked_up_repeat_signal": ("Niet opgepakt: herhaalde melding", "Not taken up: repeat"),
        "not_picked_up_wrongful_signal": (
            "Niet opgepakt: onterecht signaal",
            "Not taken up: wrongful signal",
        ),
        "not_picked_up_deceased": ("Inwoner is overleden", "Deceased"),
        "not_picked_up_not_resident": (
            "Persoon is geen inwoner (meer) in de gemeente",
            "Not (or no longer) a resident",
        ),
        "not_picked_up_other": ("Niet opgepakt: andere reden", "Not taken up: other reason"),
    },
}


def text(key: str, language: str) -> str:
    nl, en = _TEXT.get(key, (key, key))
    return en if language == "en" else nl


def label(group: str, value: str | None, language: str) -> str:
    if value is None:
        return ""
    nl, en = LABELS.get(group, {}).get(value, (value, value))
    return en if language == "en" else nl


def day(value: dt.date | str | None, language: str) -> str:
    """25-11-2026 in Dutch, 2026-11-25 in English (unambiguous for both)."""
    if value is None or value == "":
        return ""
    date = dt.date.fromisoformat(value[:10]) if isinstance(value, str) else value
    return date.strftime("%d-%m-%Y") if language == "nl" else date.isoformat()


def long_day(value: dt.date, language: str) -> str:
    if language == "nl":
        return f"{value.day} {MONTHS_NL[value.month - 1]} {value.year}"
    return value.strftime("%d %B %Y").lstrip("0")


def moment(value: str | dt.datetime | None, language: str) -> str:
    """A point in time in Dutch local time: 25-11-2026 14:05."""
    if value is None or value == "":
        return ""
    instant = (
        dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    )
    local = instant.astimezone(NETHERLANDS)
    return f"{day(local_date(instant), language)} {local.strftime('%H:%M')}"


def euros(cents: int, language: str) -> str:
    """€ 2.384,00 in Dutch, € 2,384.00 in English."""
    text = f"{cents / 100:,.2f}"
    if language == "nl":
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return f"€ {text}"
