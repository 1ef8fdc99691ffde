"""The dashboard's words, French and English, in the merchandisers' own terms (../shared/DOMAIN.md).

Each report section is declared here once: its title, what it tells, and the columns its table
shows with their format. The page renders these as headers; the script formats the values.
"""

from __future__ import annotations

from dataclasses import dataclass

LANGS = ("fr", "en")
DEFAULT_LANG = "fr"

# Label: (French, English).
LABELS: dict[str, tuple[str, str]] = {
    "title": ("Tableau de bord", "Dashboard"),
    "brand": ("Fidelia", "Fidelia"),
    "subtitle": ("Fidélisation client : rapports du merchandiser", "Customer loyalty: the merchandiser's reports"),
    "site": ("Site", "Site"),
    "from": ("Du", "From"),
    "to": ("Au", "To"),
    "by": ("Regroupement", "Group by"),
    "by_auto": ("Automatique", "Automatic"),
    "by_day": ("Jour", "Day"),
    "by_week": ("Semaine", "Week"),
    "by_month": ("Mois", "Month"),
    "apply": ("Appliquer", "Apply"),
    "last_7": ("7 jours", "7 days"),
    "last_30": ("30 jours", "30 days"),
    "last_90": ("90 jours", "90 days"),
    "last_365": ("12 mois", "12 months"),
    "period": ("Période", "Period"),
    "logout": ("Se déconnecter", "Sign out"),
    "language": ("Langue", "Language"),
    "csv": ("Télécharger (CSV)", "Download (CSV)"),
    "loading": ("Chargement…", "Loading…"),
    "no_data": ("Aucune donnée pour cette période.", "No data for this period."),
    "load_error": ("Ce rapport n'a pas pu être chargé :", "This report could not be loaded:"),
    "others": ("Autres", "Others"),
    "kpi_visits": ("Visites", "Visits"),
    "kpi_orders": ("Commandes", "Orders"),
    "kpi_revenue": ("Chiffre d'affaires", "Revenue"),
    "kpi_basket": ("Panier moyen", "Average basket"),
    "kpi_nps": ("NPS", "NPS"),
    "kpi_complaints": ("Réclamations", "Complaints"),
    "login_title": ("Connexion au tableau de bord", "Sign in to the dashboard"),
    "login_text": ("Entrez une clé d'API ayant le droit «\u00a0reports\u00a0» (ou «\u00a0admin\u00a0»).",
                   "Enter an API key with the “reports” (or “admin”) scope."),
    "login_key": ("Clé d'API", "API key"),
    "login_submit": ("Se connecter", "Sign in"),
    "login_refused": ("Clé refusée : elle n'existe pas ou n'ouvre pas les rapports.",
                      "Key refused: it does not exist or does not open the reports."),
    "login_no_keys": ("Aucune clé configurée n'ouvre les rapports : créez-en une avec "
                      "«\u00a0fidelia keys new --scopes reports\u00a0» et ajoutez-la à FIDELIA_API_KEYS.",
                      "No configured key opens the reports: make one with “fidelia keys new --scopes reports” "
                      "and add it to FIDELIA_API_KEYS."),
    "login_demo": ("Démo : la clé à utiliser est écrite dans le journal du serveur "
                   "(«\u00a0dashboard: sign in with key fk_…\u00a0»).",
                   "Demo: the key to use is in the server log (“dashboard: sign in with key fk_…”)."),
    "login_expired": ("Votre session a expiré ou n'est plus valable : reconnectez-vous.",
                      "Your session has expired or is no longer valid: please sign in again."),
    "bad_parameter": ("Paramètre refusé :", "Parameter refused:"),
}

# Values the script shows in words instead of codes: RFM segments, lifecycle stages, offer groups.
VALUE_LABELS: dict[str, tuple[str, str]] = {
    "champions": ("Champions", "Champions"),
    "loyal": ("Fidèles", "Loyal"),
    "potential_loyalist": ("Fidèles en devenir", "Potential loyalists"),
    "new": ("Nouveaux clients", "New customers"),
    "promising": ("Prometteurs", "Promising"),
    "need_attention": ("À surveiller", "Need attention"),
    "cannot_lose": ("À ne pas perdre", "Cannot lose them"),
    "at_risk": ("À risque", "At risk"),
    "hibernating": ("En sommeil", "Hibernating"),
    "lost": ("Perdus", "Lost"),
    "prospect": ("Prospect", "Prospect"),
    "buyer": ("Acheteur", "Buyer"),
    "repeat_customer": ("Client", "Repeat customer"),
    "supporter": ("Supporteur", "Supporter"),
    "ambassador": ("Ambassadeur", "Ambassador"),
    "personalised": ("Offre personnalisée", "Personalised offer"),
    "holdout": ("Groupe témoin", "Holdout group"),
}


@dataclass(frozen=True)
class Column:
    key: str
    label: tuple[str, str]
    format: str = "int"  # int, decimal, money, share, change, nps, date, text, code


@dataclass(frozen=True)
class Table:
    key: str  # "rows", or the name of a section of the report (Report.sections)
    title: tuple[str, str] | None
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class ReportView:
    name: str
    title: tuple[str, str]
    help: tuple[str, str]
    tables: tuple[Table, ...]
    wide: bool = False


PERIOD = Column("period", ("Période", "Period"), "date")
RUBRIQUE = Column("rubrique", ("Rubrique", "Rubrique"), "text")
REVENUE = Column("revenue", ("Chiffre d'affaires", "Revenue"), "money")
ORDERS = Column("orders", ("Commandes", "Orders"), "int")
BASKET = Column("average_basket", ("Panier moyen", "Average basket"), "money")
CONVERSION = Column("conversion", ("Taux de transformation", "Conversion rate"), "share")
CUSTOMERS = Column("customers", ("Clients acheteurs", "Buying customers"), "int")
CUSTOMER = Column("customer", ("Client", "Customer"), "text")
P_ALIVE = Column("p_alive", ("Probabilité d'être encore client", "Probability still active"), "share")
CLV = Column("predicted_clv", ("Valeur client prévue", "Predicted customer value"), "money")
AT_RISK = Table("at_risk", ("Clients de valeur en risque de départ", "Valuable customers at risk of leaving"),
                (CUSTOMER, Column("segment", ("Segment RFM", "RFM segment"), "code"), ORDERS,
                 Column("monetary", ("Montant dépensé", "Amount spent"), "money"), P_ALIVE, CLV))


def _rows(*columns: Column) -> tuple[Table, ...]:
    return (Table("rows", None, columns),)


REPORT_VIEWS: tuple[ReportView, ...] = (
    ReportView("top-rubriques", ("Rubriques les plus consultées", "Top rubriques"),
               ("Ce qui intéresse les visiteurs : pages vues, paniers et ventes par rubrique, et l'évolution "
                "par rapport à la période précédente.",
                "What interests visitors: page views, carts and sales per rubrique, and the change against "
                "the previous period."),
               _rows(RUBRIQUE, Column("pageviews", ("Pages vues", "Page views")),
                     Column("unique_visitors", ("Visiteurs", "Visitors")),
                     Column("product_views", ("Fiches produit vues", "Product views")),
                     Column("add_to_cart", ("Ajouts au panier", "Added to cart")),
                     Column("purchases", ("Commandes", "Orders")), REVENUE, CONVERSION,
                     Column("pageviews_change", ("Évolution des pages vues", "Page views change"), "change")),
               wide=True),
    ReportView("visitors", ("Visiteurs", "Visitors"),
               ("Les visiteurs reconnus par leur cookie : nouveaux, ou qui reviennent.",
                "Visitors recognised by their cookie: new ones, and those who come back."),
               _rows(PERIOD, Column("visitors", ("Visiteurs", "Visitors")),
                     Column("new_visitors", ("Nouveaux visiteurs", "New visitors")),
                     Column("returning_visitors", ("Visiteurs qui reviennent", "Returning visitors")),
                     Column("visits", ("Visites", "Visits")),
                     Column("identified_share", ("Part de clients identifiés", "Identified share"), "share"))),
    ReportView("basket", ("Panier moyen et fréquence d'achat", "Average basket and purchase frequency"),
               ("Panier moyen = chiffre d'affaires / commandes ; fréquence d'achat = commandes par client "
                "acheteur.",
                "Average basket = revenue / orders; purchase frequency = orders per buying customer."),
               (Table("rows", None, (PERIOD, ORDERS, REVENUE, CUSTOMERS, BASKET,
                                     Column("purchase_frequency", ("Fréquence d'achat", "Purchase frequency"),
                                            "decimal"))),
                Table("by_rubrique", ("Panier moyen par rubrique", "Average basket per rubrique"),
                      (RUBRIQUE, ORDERS, REVENUE, BASKET)))),
    ReportView("attrition", ("Attrition", "Attrition"),
               ("Taux d'attrition = clients perdus sur la période / clients au début de la période. "
                "Une hausse durable est un signal à examiner, souvent par une enquête de satisfaction.",
                "Attrition rate = customers lost over the period / customers at its start. A rate that "
                "keeps rising is a signal to investigate, usually with a satisfaction survey."),
               (Table("rows", None, (PERIOD, Column("customers_at_start", ("Clients en début de période",
                                                                           "Customers at start")),
                                     Column("lost", ("Clients perdus", "Customers lost")),
                                     Column("attrition_rate", ("Taux d'attrition", "Attrition rate"), "share"),
                                     Column("retention_rate", ("Taux de rétention", "Retention rate"), "share"))),
                Table("recently_lost", ("Clients perdus à reconquérir", "Lost customers to win back"),
                      (Column("customer", ("Client", "Customer"), "text"),
                       Column("last_purchase", ("Dernier achat", "Last purchase"), "date"),
                       Column("orders", ("Commandes", "Orders")),
                       Column("monetary", ("Montant dépensé", "Amount spent"), "money"))),
                AT_RISK)),
    ReportView("satisfaction", ("Satisfaction et réclamations", "Satisfaction and complaints"),
               ("Satisfaction moyenne (1 à 5), NPS = % promoteurs (9–10) − % détracteurs (0–6), "
                "taux de réclamation = réclamations / clients acheteurs.",
                "Mean satisfaction (1 to 5), NPS = % promoters (9–10) − % detractors (0–6), "
                "complaint rate = complaints / buying customers."),
               _rows(PERIOD, Column("surveys", ("Questionnaires", "Surveys")),
                     Column("mean_satisfaction", ("Satisfaction", "Satisfaction"), "decimal"),
                     Column("nps_answers", ("Réponses NPS", "NPS answers")),
                     Column("nps", ("NPS", "NPS"), "nps"),
                     Column("complaints", ("Réclamations", "Complaints")), CUSTOMERS,
                     Column("complaint_rate", ("Taux de réclamation", "Complaint rate"), "share"))),
    ReportView("rfm", ("Segments RFM", "RFM segments"),
               ("Récence, fréquence, montant : les meilleurs clients méritent le plus d'attention, "
                "sans oublier les petits d'aujourd'hui, grands de demain.",
                "Recency, frequency, monetary value: the best customers deserve the most attention, "
                "but today's small customers may be tomorrow's big ones."),
               (Table("rows", None, (
                   Column("segment", ("Segment", "Segment"), "code"), Column("customers", ("Clients", "Customers")),
                   REVENUE, Column("revenue_share", ("Part du chiffre d'affaires", "Revenue share"), "share"),
                   Column("mean_recency_days", ("Récence moyenne (jours)", "Mean recency (days)"), "decimal"),
                   Column("mean_orders", ("Commandes par client", "Orders per customer"), "decimal"))),
                AT_RISK)),
    ReportView("customer-value", ("Valeur client", "Customer value"),
               ("Ce que chaque client devrait encore rapporter sur l'horizon (valeur actualisée) et la probabilité "
                "qu'il soit encore client, selon les modèles BG/NBD et Gamma-Gamma ajustés sur l'historique "
                "d'achats du site à la date du dernier calcul des profils (la période ne s'applique pas).",
                "What each customer should still bring over the horizon (discounted) and the probability they "
                "are still a customer, from the BG/NBD and Gamma-Gamma models fitted on the site's purchase "
                "history as of the latest profiles rebuild (the period does not apply)."),
               (Table("rows", None, (Column("clv_from", ("Valeur prévue, de", "Predicted value, from"), "money"),
                                     Column("clv_to", ("à", "to"), "money"), CUSTOMERS,
                                     Column("share", ("Part des clients", "Share of customers"), "share"),
                                     Column("predicted_clv", ("Valeur prévue totale", "Total predicted value"),
                                            "money"))),
                Table("top_customers", ("Clients les plus précieux", "Most valuable customers"),
                      (CUSTOMER, Column("segment", ("Segment RFM", "RFM segment"), "code"), ORDERS,
                       Column("monetary", ("Montant dépensé", "Amount spent"), "money"),
                       Column("recency_days", ("Jours depuis le dernier achat", "Days since last purchase")),
                       P_ALIVE, CLV)),
                Table("parameters", ("Modèle ajusté", "Fitted model"),
                      (Column("parameter", ("Paramètre", "Parameter"), "text"),
                       Column("value", ("Valeur", "Value"), "text"))))),
    ReportView("lifecycle", ("Cycle de vie client", "Customer lifecycle"),
               ("De prospect à ambassadeur : combien de personnes à chaque étape en fin de période, "
                "et qui a changé d'étape.",
                "From prospect to ambassador: how many people at each stage at the end of the period, "
                "and who moved."),
               (Table("rows", None, (Column("stage", ("Étape", "Stage"), "code"),
                                     Column("count", ("Personnes", "People")))),
                Table("transitions", ("Changements d'étape", "Stage changes"),
                      (Column("from_stage", ("Depuis", "From"), "code"), Column("to_stage", ("Vers", "To"), "code"),
                       Column("people", ("Personnes", "People")))))),
    ReportView("top-products", ("Produits les plus vendus", "Top products"),
               ("Les produits qui font le chiffre d'affaires, avec leurs vues et ajouts au panier.",
                "The products that make the revenue, with their views and cart additions."),
               _rows(Column("product_id", ("Produit", "Product"), "text"), Column("name", ("Nom", "Name"), "text"),
                     RUBRIQUE, Column("views", ("Vues", "Views")),
                     Column("add_to_cart", ("Ajouts au panier", "Added to cart")),
                     Column("purchases", ("Commandes", "Orders")), Column("units", ("Unités vendues", "Units sold")),
                     REVENUE, CONVERSION),
               wide=True),
    ReportView("sources", ("Sources de trafic", "Traffic sources"),
               ("D'où viennent les visites (moteurs, newsletters, campagnes) et ce qu'elles rapportent.",
                "Where visits come from (search engines, newsletters, campaigns) and what they bring."),
               _rows(Column("source", ("Source", "Source"), "text"), Column("medium", ("Support", "Medium"), "text"),
                     Column("campaign", ("Campagne", "Campaign"), "text"), Column("visits", ("Visites", "Visits")),
                     Column("visitors", ("Visiteurs", "Visitors")),
                     Column("conversions", ("Visites avec achat", "Visits with a purchase")), CONVERSION, REVENUE)),
    ReportView("recommendations", ("Offres personnalisées", "Personalised offers"),
               ("L'offre adaptée au profil contre le groupe témoin (meilleures ventes) : taux de clic et de "
                "transformation, avec leur intervalle de confiance à 95 %.",
                "The offer fitted to the profile against the holdout group (best sellers): click-through and "
                "conversion rates, with their 95% confidence intervals."),
               _rows(Column("group_name", ("Groupe", "Group"), "code"),
                     Column("impressions", ("Affichages", "Impressions")), Column("clicks", ("Clics", "Clicks")),
                     Column("ctr", ("Taux de clic", "Click-through rate"), "share"),
                     Column("ctr_low", ("Taux de clic, bas", "CTR, low"), "share"),
                     Column("ctr_high", ("Taux de clic, haut", "CTR, high"), "share"),
                     Column("visits_with_offer", ("Visites avec offre", "Visits with an offer")),
                     Column("visits_converted", ("Visites avec achat", "Visits with a purchase")),
                     Column("conversion", ("Taux de transformation", "Conversion rate"), "share"))),
)


def in_lang(pairs: dict[str, tuple[str, str]], lang: str) -> dict[str, str]:
    index = LANGS.index(lang)
    return {key: pair[index] for key, pair in pairs.items()}
