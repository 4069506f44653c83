// Deciding together on the web map: the rooms, a room's proposals by
// phase, a proposal's page (text, amendments, vote buttons, my vote, the
// result once closed), and a notice when a proposal appears in one of my
// rooms. Loaded before app.js, whose helpers (el, t, api, state, toast,
// openPage) these functions call once the page runs.
"use strict";

const DECIDE_TEXT = {
  fr: {
    decide: "Décider", rooms: "Décider ensemble", no_rooms: "Aucune salle de décision pour l'instant.",
    new_room: "Nouvelle salle", room_name: "Nom de la salle", who: "Qui décide",
    "who-confirmed-members": "Les membres confirmés", "who-members": "Les membres",
    "who-citizens": "Les habitants du code postal", "who-anyone": "Tout le monde",
    make_room: "Créer la salle", room_made: "Salle créée.",
    no_proposals: "Aucune proposition pour l'instant.", propose: "Proposer",
    proposal_title: "Titre", proposal_text: "Texte", proposal_choices: "Choix (séparés par des virgules, sinon oui / non)",
    vote_until: "Fin du vote (facultatif)", proposed: "Proposition faite.",
    amending: "Amendements ouverts", folding: "Amendements clos, vote à ouvrir", voting: "Vote ouvert", closed: "Vote clos",
    yes: "Oui", no: "Non", blank: "Blanc", voted: "Vote enregistré.", my_vote: (choice) => `Mon vote : ${choice}`,
    my_vote_none: "Je n'ai pas voté.", my_vote_left_out: "Mon vote n'a pas été compté.",
    close_vote: "Clore le vote", vote_closed: "Vote clos.", open_vote: "Ouvrir le vote", vote_opened: "Vote ouvert.",
    result: "Résultat", amendments: "Amendements",
    outcome_open: "Vote en cours", outcome_adopted: "Adoptée", outcome_rejected: "Rejetée",
    outcome_chosen: (choice) => `Choix retenu : ${choice}`, outcome_no_majority: "Aucun choix n'a la majorité",
    outcome_quorum_not_reached: "Quorum non atteint",
    counted: (n) => `${n} vote${n > 1 ? "s" : ""} compté${n > 1 ? "s" : ""}`,
    majority_rule: (m) => `Adoptée avec plus de ${m} % des votes exprimés (les votes blancs ne comptent pas).`,
    ends: (date) => `Fin déclarée : ${date}`,
    names_hidden: "Les noms des votants ne sont pas affichés ; chaque vote est signé et reste lisible dans les données.",
    new_proposal: (title, room) => `Nouvelle proposition dans ${room} : ${title}`,
    amendment_adopted: "adopté", amendment_rejected: "non adopté", amendment_open: "en vote",
    actions: "Actions", action_title: "Action à mener", action_start: "Début (facultatif)", action_end: "Fin (facultatif)",
    add_action: "Ajouter l'action", action_added: "Action ajoutée.", volunteer: "Je participe", unvolunteer: "Je me retire",
    "status-todo": "À faire", "status-done": "Faite", "status-disabled": "Abandonnée", action_status: "État",
    volunteers: (n) => `${n} volontaire${n > 1 ? "s" : ""}`,
  },
  en: {
    decide: "Decide", rooms: "Deciding together", no_rooms: "No decision room yet.",
    new_room: "New room", room_name: "Room's name", who: "Who decides",
    "who-confirmed-members": "Confirmed members", "who-members": "Members",
    "who-citizens": "Citizens of the postal code", "who-anyone": "Anyone",
    make_room: "Make the room", room_made: "Room made.",
    no_proposals: "No proposal yet.", propose: "Propose",
    proposal_title: "Title", proposal_text: "Text", proposal_choices: "Choices (separated by commas, else yes / no)",
    vote_until: "End of the vote (optional)", proposed: "Proposal made.",
    amending: "Open to amendments", folding: "Amendments closed, vote to open", voting: "Vote open", closed: "Closed",
    yes: "Yes", no: "No", blank: "Blank", voted: "Vote recorded.", my_vote: (choice) => `My vote: ${choice}`,
    my_vote_none: "I have not voted.", my_vote_left_out: "My vote was not counted.",
    close_vote: "Close the vote", vote_closed: "Vote closed.", open_vote: "Open the vote", vote_opened: "Vote opened.",
    result: "Result", amendments: "Amendments",
    outcome_open: "Vote under way", outcome_adopted: "Adopted", outcome_rejected: "Rejected",
    outcome_chosen: (choice) => `Choice made: ${choice}`, outcome_no_majority: "No choice has the majority",
    outcome_quorum_not_reached: "Quorum not reached",
    counted: (n) => `${n} vote${n > 1 ? "s" : ""} counted`,
    majority_rule: (m) => `Adopted with more than ${m} % of the votes cast (blank votes do not count).`,
    ends: (date) => `Declared end: ${date}`,
    names_hidden: "Voters' names are not shown; every vote is signed and stays readable in the data.",
    new_proposal: (title, room) => `New proposal in ${room}: ${title}`,
    amendment_adopted: "adopted", amendment_rejected: "not adopted", amendment_open: "being voted",
    actions: "Actions", action_title: "Action to take", action_start: "Start (optional)", action_end: "End (optional)",
    add_action: "Add the action", action_added: "Action added.", volunteer: "I'll help", unvolunteer: "I withdraw",
    "status-todo": "To do", "status-done": "Done", "status-disabled": "Given up", action_status: "Status",
    volunteers: (n) => `${n} volunteer${n > 1 ? "s" : ""}`,
  },
};

/** The French of the room rules' refusals, by `reason` (app.js says
 * them with the API's other errors). */
const DECIDE_ERRORS = {
  not_eligible: "Vous ne faites pas partie de ceux qui décident dans cette salle.",
  wrong_phase: "Ce n'est pas possible à ce stade de la proposition.",
  second_vote: "Vous avez déjà voté, et les votes de cette proposition ne peuvent pas changer.",
  not_a_choice: "Ce choix n'est pas proposé.",
  early_closing: "Seul un administrateur de la salle peut clore avant la fin déclarée.",
  not_proposer: "Seul l'auteur de la proposition peut le faire.",
  not_adopted: "Les actions suivent une proposition adoptée.",
  not_action_author: "Seul l'auteur de l'action ou un administrateur de la salle change son état.",
};

/** The phases in the order a room page lists them. */
const PHASES = ["voting", "amending", "folding", "closed"];

/** The page of a hash that names a room or a proposal, if it does. */
function decisionPage(hash) {
  const room = hash.match(/^#\/r\/([a-z2-7]{26})$/);
  if (room) return () => roomPage(room[1]);
  const proposal = hash.match(/^#\/p\/([a-z2-7]{26})\/([0-9a-f]{64}\.[0-9a-f]{16})$/);
  if (proposal) return () => proposalPage(proposal[1], proposal[2]);
  return null;
}

/** Whether the citizen takes part in `room`'s decisions, as far as the
 * page can tell (the node's rules decide). */
function takesPart(room) {
  const me = state.status?.author;
  if (!me) return false;
  if (room.admins.includes(me)) return true;
  const member = room.links.find((link) => link.relation === "member" && link.author === me && !link.removed);
  switch (room.fields.who) {
    case "anyone": case "citizens": return true;
    case "members": return Boolean(member);
    default: return Boolean(member?.confirmed);
  }
}

/** A form of labelled fields; `submit` gets their values. */
function decisionForm(id, fields, button, submit) {
  const form = el("form", null, { id, class: "decision-form" });
  for (const [name, label, kind, extra = {}] of fields) {
    const fieldId = `${id}-${name}`;
    form.append(el("label", label, { for: fieldId }));
    if (kind === "select") {
      const select = el("select", null, { id: fieldId, name });
      for (const [value, text] of extra.options) select.append(el("option", text, { value }));
      form.append(select);
    } else {
      form.append(el(kind === "textarea" ? "textarea" : "input", null,
        { id: fieldId, name, ...(kind === "textarea" ? {} : { type: kind }), ...extra }));
    }
  }
  form.append(el("button", button, { type: "submit", id: `${id}-submit` }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form).entries());
    try {
      await submit(values);
    } catch (error) {
      toast(error.message);
    }
  });
  return form;
}

/** Makes a decision; returns the proposal's tally. */
async function decideNow(room, decision) {
  return api("POST", "/api/decisions", room ? { room, decision } : { decision });
}

/** The rooms, and a form to make one. */
async function roomsPage() {
  const nodes = [el("h2", t("rooms"), { id: "page-title" })];
  const rooms = [...state.rooms.values()].sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
  if (!rooms.length) nodes.push(el("p", t("no_rooms"), { class: "empty" }));
  const list = el("ul", null, { class: "entries" });
  for (const room of rooms) {
    const button = el("button", null, { type: "button", class: "entry", "data-id": room.id });
    button.append(el("span", room.fields.name, { class: "name" }),
      el("span", [t(`who-${room.fields.who || "confirmed-members"}`),
        room.fields.moderation && t("moderation")].filter(Boolean).join(" · "), { class: "what" }));
    button.addEventListener("click", () => openPage(`#/r/${room.id}`));
    list.append(el("li"));
    list.lastChild.append(button);
  }
  nodes.push(list);
  if (canWrite) {
    const who = ["confirmed-members", "members", "citizens", "anyone"].map((value) => [value, t(`who-${value}`)]);
    nodes.push(el("h3", t("new_room")), decisionForm("room-form", [
      ["name", t("room_name"), "text", { required: "", maxlength: "120" }],
      ["who", t("who"), "select", { options: who }],
      ["moderation", t("moderation_room"), "checkbox"],
    ], t("make_room"), async ({ name, who: chosen, moderation }) => {
      const postal = state.status.postal_code;
      const edits = [{ set: ["who", chosen] }, { set: ["parent", postal] }];
      if (moderation) edits.push({ set: ["moderation", true] });
      const room = await api("POST", "/api/entities", { kind: "room", name, edits });
      state.rooms.set(room.id, room);
      toast(t("room_made"));
      await openPage(`#/r/${room.id}`);
    }));
  }
  return nodes;
}

/** A room: its proposals by phase, and a form to propose. */
async function roomPage(id) {
  const room = state.rooms.get(id) || await api("GET", `/api/entities/${id}`);
  const { proposals } = await api("GET", `/api/rooms/${id}/proposals`);
  for (const proposal of proposals) state.seenProposals.add(proposal.id);
  const nodes = [el("h2", room.fields.name, { id: "page-title" }),
    el("p", `${t("who")} : ${t(`who-${room.fields.who || "confirmed-members"}`)}`, { class: "who" })];
  if (!proposals.length) nodes.push(el("p", t("no_proposals"), { class: "empty" }));
  for (const phase of PHASES) {
    const these = proposals.filter((proposal) => proposal.phase === phase);
    if (!these.length) continue;
    const list = el("ul", null, { class: "entries" });
    for (const proposal of these) {
      const button = el("button", null, { type: "button", class: "entry", "data-id": proposal.id });
      button.append(el("span", proposal.title, { class: "name" }));
      button.addEventListener("click", () => openPage(`#/p/${id}/${proposal.id}`));
      list.append(el("li"));
      list.lastChild.append(button);
    }
    nodes.push(el("section", null, { class: `phase phase-${phase}` }));
    nodes.at(-1).append(el("h3", `${t(phase)} (${these.length})`), list);
  }
  if (room.fields.moderation) nodes.push(...await moderationQueue(room));
  if (canWrite && takesPart(room)) {
    nodes.push(el("h3", t("propose")), decisionForm("propose-form", [
      ["title", t("proposal_title"), "text", { required: "", maxlength: "120" }],
      ["text", t("proposal_text"), "textarea", { required: "", maxlength: "8000" }],
      ["choices", t("proposal_choices"), "text"],
      ["vote_until", t("vote_until"), "datetime-local"],
    ], t("propose"), async ({ title, text, choices, vote_until: until }) => {
      const proposal = {
        title, text,
        choices: choices.split(",").map((c) => c.trim()).filter(Boolean),
        vote_until: until ? new Date(until).getTime() : null,
      };
      const report = await decideNow(id, { propose: { proposal } });
      state.seenProposals.add(report.made);
      toast(t("proposed"));
      await openPage(`#/p/${id}/${report.made}`);
    }));
  }
  return nodes;
}

/** The label of a choice: yes, no and blank in the page's language. */
function choiceLabel(choice) {
  return ["yes", "no", "blank"].includes(choice) ? t(choice) : choice;
}

/** A proposal: its text, amendments, the vote and the result. */
async function proposalPage(roomId, id) {
  const room = state.rooms.get(roomId) || await api("GET", `/api/entities/${roomId}`);
  const { tally } = await api("GET", `/api/proposals/${id}`);
  const proposal = tally.proposal;
  const me = state.status?.author;
  const nodes = [el("h2", proposal.title, { id: "page-title" }),
    el("p", t(proposal.phase), { class: `phase-line phase-${proposal.phase}` }),
    el("p", proposal.text, { class: "proposal-text" }),
    el("p", t("majority_rule", proposal.majority), { class: "rule" })];
  if (proposal.vote_until) {
    nodes.push(el("p", t("ends", new Date(proposal.vote_until).toLocaleString(lang,
      { dateStyle: "full", timeStyle: "short" })), { class: "rule" }));
  }
  if (!proposal.names_shown) nodes.push(el("p", t("names_hidden"), { class: "rule" }));
  if (proposal.amendments.length) {
    const list = el("ul", null, { class: "amendments" });
    proposal.amendments.forEach((amendment, at) => {
      const result = tally.amendments[at];
      const standing = result?.adopted === true ? "amendment_adopted"
        : result?.adopted === false ? "amendment_rejected" : "amendment_open";
      list.append(el("li", `${amendment.text} (${t(standing)})`));
    });
    nodes.push(el("h3", t("amendments")), list);
  }
  const choices = [...proposal.choices, "blank"];
  const mine = tally.counted.find((ballot) => ballot.voter === me);
  const leftOut = tally.left_out.find(([voter]) => voter === me);
  if (proposal.phase === "voting" && canWrite && takesPart(room) && (!mine || proposal.votes_can_change)) {
    const buttons = el("div", null, { class: "vote-buttons", role: "group", "aria-label": t("voting") });
    for (const choice of choices) {
      const button = el("button", choiceLabel(choice), { type: "button", "data-choice": choice });
      button.addEventListener("click", async () => {
        try {
          await decideNow(null, { vote: { proposal: id, choice } });
          toast(t("voted"));
          await openPage(state.page, false, false);
        } catch (error) {
          toast(error.message);
        }
      });
      buttons.append(button);
    }
    nodes.push(buttons);
  }
  nodes.push(el("p", mine ? t("my_vote", choiceLabel(mine.choice))
    : leftOut ? t("my_vote_left_out") : t("my_vote_none"), { class: "my-vote" }));
  const admin = me && room.admins.includes(me);
  const due = proposal.vote_until && Date.now() >= proposal.vote_until;
  const act = (label, decision, done) => {
    const button = el("button", label, { type: "button", class: "decision-action" });
    button.addEventListener("click", async () => {
      try {
        await decideNow(null, decision);
        toast(done);
        await openPage(state.page, false, false);
      } catch (error) {
        toast(error.message);
      }
    });
    nodes.push(button);
  };
  if (canWrite && proposal.phase === "voting" && (admin || (due && takesPart(room)))) {
    act(t("close_vote"), { close: { proposal: id, stage: "vote" } }, t("vote_closed"));
  }
  if (canWrite && proposal.phase === "folding" && (admin || proposal.proposer === me)) {
    act(t("open_vote"), { open_vote: { proposal: id } }, t("vote_opened"));
  }
  if (proposal.phase === "closed") nodes.push(...resultOf(tally, choices));
  const adopted = ["adopted", "chosen"].includes(tally.outcome.result);
  if (adopted) nodes.push(...actionsOf(room, proposal, admin));
  return nodes;
}

/** The actions of an adopted proposal: each with its dates, status and
 * volunteers, a button to help, the status for its author or an admin,
 * and a form to add one for the proposer or an admin. */
function actionsOf(room, proposal, admin) {
  const me = state.status?.author;
  const nodes = [el("h3", t("actions"), { id: "actions-title" })];
  const list = el("ul", null, { class: "actions-list" });
  const when = (ms) => new Date(ms).toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
  const run = async (decision, done) => {
    try {
      await decideNow(null, decision);
      if (done) toast(done);
      await openPage(state.page, false, false);
    } catch (error) {
      toast(error.message);
    }
  };
  for (const action of proposal.actions) {
    const item = el("li", null, { "data-action": action.id });
    const dates = [action.start && when(action.start), action.end && when(action.end)].filter(Boolean).join(" → ");
    item.append(el("span", action.title, { class: "action-title" }),
      el("span", ` — ${t(`status-${action.status}`)}${dates ? `, ${dates}` : ""}, ${t("volunteers", action.volunteers.length)}`,
        { class: "action-state" }));
    if (canWrite && takesPart(room)) {
      const helping = action.volunteers.includes(me);
      const help = el("button", t(helping ? "unvolunteer" : "volunteer"), { type: "button", class: "volunteer" });
      help.addEventListener("click", () => run({ volunteer: { proposal: proposal.id, action: action.id, volunteer: !helping } }));
      item.append(help);
    }
    if (canWrite && (admin || action.author === me)) {
      const fieldId = `status-${action.id.slice(-16)}`;
      const select = el("select", null, { id: fieldId, class: "action-status" });
      for (const status of ["todo", "done", "disabled"]) {
        const option = el("option", t(`status-${status}`), { value: status });
        if (status === action.status) option.selected = true;
        select.append(option);
      }
      select.addEventListener("change", () => run({ set_action_status: { proposal: proposal.id, action: action.id, status: select.value } }));
      item.append(el("label", t("action_status"), { for: fieldId, class: "visually-hidden" }), select);
    }
    list.append(item);
  }
  nodes.push(list);
  if (canWrite && (admin || proposal.proposer === me)) {
    nodes.push(decisionForm("action-form", [
      ["title", t("action_title"), "text", { required: "", maxlength: "120" }],
      ["start", t("action_start"), "datetime-local"],
      ["end", t("action_end"), "datetime-local"],
    ], t("add_action"), async ({ title, start, end }) => {
      const action = { title, start: start ? new Date(start).getTime() : null, end: end ? new Date(end).getTime() : null };
      await run({ add_action: { proposal: proposal.id, action } }, t("action_added"));
    }));
  }
  return nodes;
}

/** The result of a closed proposal: the outcome, and each choice's votes
 * as a bar with its count and share. */
function resultOf(tally, choices) {
  const outcome = tally.outcome;
  const said = outcome.result === "chosen" ? t("outcome_chosen", choiceLabel(outcome.choice))
    : t(`outcome_${outcome.result}`);
  const table = el("table", null, { class: "result-chart" });
  table.append(el("caption", t("counted", tally.counted.length)));
  const total = Math.max(1, tally.counted.length);
  for (const choice of choices) {
    const count = tally.counts[choice] || 0;
    const row = el("tr", null, { "data-choice": choice });
    const bar = el("span", null, { class: "bar", style: `width: ${Math.round((100 * count) / total)}%` });
    const cell = el("td");
    cell.append(bar);
    row.append(el("th", choiceLabel(choice), { scope: "row" }), el("td", String(count), { class: "count" }), cell);
    table.append(row);
  }
  return [el("h3", t("result"), { id: "result-title" }), el("p", said, { class: "outcome" }), table];
}

/** Says so when a proposal appears in a room where the citizen takes
 * part (returns whether it did); the first look at a room only learns
 * what is there. */
async function noticeProposals(room) {
  let listed;
  try {
    ({ proposals: listed } = await api("GET", `/api/rooms/${room.id}/proposals`));
  } catch {
    return false;
  }
  const known = state.roomsSeen.has(room.id);
  state.roomsSeen.add(room.id);
  let said = false;
  for (const proposal of listed) {
    if (state.seenProposals.has(proposal.id)) continue;
    state.seenProposals.add(proposal.id);
    if (known && takesPart(room)) {
      toast(t("new_proposal", proposal.title, room.fields.name));
      said = true;
    }
  }
  return said;
}
