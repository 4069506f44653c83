// Moderation on the web map: an entity's reports and where it stands (a
// banner when its community hid it), the report form, and the moderation
// queue on the page of a postal code's moderation room. Loaded before
// app.js, whose helpers (el, t, api, state, toast, openPage, select)
// these functions call once the page runs.
"use strict";

const MODERATE_TEXT = {
  fr: {
    moderation_room: "Salle de modération du code postal", moderation: "Modération",
    queue: "File de modération", queue_empty: "Aucune fiche signalée, en vote ou masquée.",
    hidden_banner: "Masquée par décision de la communauté : elle reste gardée et visible sur demande.",
    reports: (n) => `${n} signalement${n > 1 ? "s" : ""} sur 3`,
    cleared: (n) => `${n} signalement${n > 1 ? "s" : ""} levé${n > 1 ? "s" : ""} par une décision`,
    report: "Signaler", report_reason: "Pourquoi signaler cette fiche ?", withdraw_report: "Retirer mon signalement",
    reported: "Signalement envoyé.", report_withdrawn: "Signalement retiré.",
    moderation_opened: "Trois signalements : un vote de modération est ouvert.",
    moderation_vote: "Vote de modération en cours", open_moderation: "Ouvrir le vote de modération",
    propose_restore: "Proposer de la rétablir", state_hidden: "Masquée", state_flagged: "Signalée",
    state_open: "En vote",
  },
  en: {
    moderation_room: "The postal code's moderation room", moderation: "Moderation",
    queue: "Moderation queue", queue_empty: "No entity reported, being voted on or hidden.",
    hidden_banner: "Hidden by its community's decision: it is kept, and shown on request.",
    reports: (n) => `${n} report${n > 1 ? "s" : ""} of 3`,
    cleared: (n) => `${n} report${n > 1 ? "s" : ""} cleared by a decision`,
    report: "Report", report_reason: "Why report this entity?", withdraw_report: "Withdraw my report",
    reported: "Report sent.", report_withdrawn: "Report withdrawn.",
    moderation_opened: "Three reports: a moderation vote is open.",
    moderation_vote: "Moderation vote under way", open_moderation: "Open the moderation vote",
    propose_restore: "Propose to restore it", state_hidden: "Hidden", state_flagged: "Reported",
    state_open: "Being voted on",
  },
};

/** The French of moderation's refusals, by `code`. */
const MODERATE_CODES = {
  no_moderation_room: "Ce code postal n'a pas encore de salle de modération : un administrateur en crée une dans « Décider ».",
  not_due: "Un vote de modération est déjà ouvert sur cette fiche, ou il ne changerait rien.",
};

/** Opens a moderation vote (`asks`: hide or restore) and goes to it. */
async function moderateNow(id, asks) {
  try {
    const report = await api("POST", `/api/entities/${id}/moderation`, { asks });
    await openPage(`#/p/${report.room}/${report.opened}`);
  } catch (error) {
    toast(error.message);
  }
}

/** A link to a moderation proposal's page. */
function voteLink(report) {
  return el("a", t("moderation_vote"), { href: `#/p/${report.room}/${report.state.open}`, class: "moderation-vote" });
}

/** What the entity page says of moderation: the banner of a hidden
 * entity, its reports, the vote under way, and the report form. */
async function moderationPart(entity) {
  let report;
  try {
    report = await api("GET", `/api/entities/${entity.id}/moderation`);
  } catch {
    return [];
  }
  const { state: standing } = report;
  const section = el("section", null, { class: "moderation", "aria-labelledby": "moderation-title" });
  section.append(el("h3", t("moderation"), { id: "moderation-title" }));
  if (standing.hidden) section.append(el("p", t("hidden_banner"), { class: "hidden-banner", role: "status" }));
  if (standing.counted.length) section.append(el("p", t("reports", standing.counted.length), { class: "reports" }));
  if (standing.cleared.length) section.append(el("p", t("cleared", standing.cleared.length), { class: "reports" }));
  if (standing.open && report.room) section.append(voteLink(report));
  if (canWrite && entity.kind !== "relay") {
    const me = state.status?.author;
    const mine = entity.reports.some((r) => r.author === me);
    if (mine) {
      const withdraw = el("button", t("withdraw_report"), { type: "button", id: "withdraw-report" });
      withdraw.addEventListener("click", async () => {
        try {
          await api("DELETE", `/api/entities/${entity.id}/report`);
          toast(t("report_withdrawn"));
          await select(entity.id, false, false);
        } catch (error) {
          toast(error.message);
        }
      });
      section.append(withdraw);
    } else {
      const form = el("form", null, { class: "report", id: "report-form" });
      const input = el("input", null, { id: "report-reason", maxlength: "500", required: "" });
      form.append(el("label", t("report_reason"), { for: "report-reason" }), input,
        el("button", t("report"), { type: "submit", id: "report-submit" }));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          const done = await api("POST", `/api/entities/${entity.id}/report`, { reason: input.value.trim() });
          toast(done.opened ? t("moderation_opened") : t("reported"));
          await select(entity.id, false, false);
        } catch (error) {
          toast(error.message);
        }
      });
      section.append(form);
    }
  }
  return [section];
}

/** The moderation queue of a moderation room's postal code: each entity
 * flagged, being voted on or hidden, with what can be done. */
async function moderationQueue(room) {
  // The postal key: the code in France, `CC-code` elsewhere.
  const { postal_code: code, country } = room.address;
  const postal = country && country !== "FR" ? `${country}-${code}` : code;
  // Only the postal code's moderation room (the oldest) decides.
  const queue = (await api("GET", `/api/moderation?postal_code=${encodeURIComponent(postal)}`))
    .filter((report) => report.room === room.id);
  const section = el("section", null, { class: "moderation-queue", "aria-labelledby": "queue-title" });
  section.append(el("h3", t("queue"), { id: "queue-title" }));
  if (!queue.length) section.append(el("p", t("queue_empty"), { class: "empty" }));
  const list = el("ul", null, { class: "queue" });
  for (const report of queue) {
    const standing = report.state;
    const item = el("li", null, { "data-id": report.entity });
    const open = el("button", report.name, { type: "button", class: "entry-link" });
    open.addEventListener("click", () => select(report.entity));
    const said = standing.hidden ? "state_hidden" : standing.open ? "state_open" : "state_flagged";
    item.append(open, el("span", ` — ${t(said)}, ${t("reports", standing.counted.length)}`, { class: "state" }));
    if (standing.counted.length) {
      const reasons = el("ul", null, { class: "reasons" });
      for (const counted of standing.counted) reasons.append(el("li", counted.reason));
      item.append(reasons);
    }
    if (standing.open) item.append(voteLink(report));
    else if (canWrite && standing.flagged) {
      const button = el("button", t("open_moderation"), { type: "button" });
      button.addEventListener("click", () => moderateNow(report.entity, "hide"));
      item.append(button);
    } else if (canWrite && standing.hidden && takesPart(room)) {
      const button = el("button", t("propose_restore"), { type: "button" });
      button.addEventListener("click", () => moderateNow(report.entity, "restore"));
      item.append(button);
    }
    list.append(item);
  }
  section.append(list);
  return [section];
}
