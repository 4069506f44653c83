// The web map of Communecter. Everything shown comes from the node's local
// API; user content is only ever written as text (textContent, attribute
// values), never as HTML.
"use strict";

const TEXT = {
  fr: {
    skip: "Aller à la liste", search: "Rechercher", add: "Ajouter", filters: "Filtres",
    kind: "Type", all: "Tout", organization: "Organisation", project: "Projet",
    event: "Événement", place: "Lieu", person: "Personne", category: "Catégorie",
    tag: "Mot-clé", map: "Carte", list: "Liste", join_title: "Rejoindre ma commune",
    join_intro: "Votre nom et votre commune sont publics ; votre e-mail reste sur cet ordinateur.",
    display_name: "Nom affiché", email: "E-mail (reste local)", postal_code: "Code postal",
    commune: "Commune", join: "Rejoindre", add_title: "Ajouter", edit_title: "Modifier",
    name: "Nom", organization_type: "Forme", unset: "—", local_business: "Commerce ou service",
    ngo: "Association", group: "Groupe", government: "Service public", telephone: "Téléphone",
    event_type: "Genre d'événement", place_type: "Genre de lieu", opening_hours: "Horaires",
    start: "Début", end: "Fin", short_description: "En bref", description: "Description",
    url: "Site web", street: "Adresse", tags: "Mots-clés (séparés par des virgules)",
    position: "Position sur la carte", lat: "Latitude", lon: "Longitude",
    place_on_map: "Placer en cliquant sur la carte", click_map: "Cliquez sur la carte pour placer",
    save: "Enregistrer", cancel: "Annuler", edit: "Modifier", recommend: "Je recommande",
    recommend_comment: "Votre commentaire (facultatif)", ask_join: "Demander à rejoindre",
    contribute: "Je contribue", attend: "J'y vais", close: "Fermer", history: "Historique",
    members: "Membres", pending: "en attente", contributors: "Contributeurs",
    attendees: "Participants", recommended_by: "Recommandé par", address: "Adresse",
    nothing: "Rien ici pour l'instant.", count: (n) => `${n} résultat${n > 1 ? "s" : ""}`,
    saved: "Enregistré.", updated: "Mis à jour par un voisin.", joined_as: (name) => `Bienvenue, ${name} !`,
    read_only: "Lecture seule : pour écrire depuis ce navigateur, lancez « communecter web » et ouvrez le lien qu'il donne.",
    pairing_expired: "Ce lien a déjà servi ou a expiré : lancez « communecter web » pour en avoir un autre.",
    change_by: "modification par", unknown_commune: "Code postal inconnu.",
    created: "création", links_changed: "liens", admins_changed: "administrateurs",
    deleted_changed: "suppression", open_edition_changed: "ouverture à tous",
    send: "Envoyer", back: "Retour à la liste",
    lonely_title: "Pas encore de voisins",
    lonely_intro: "Votre nœud ne connaît encore aucun autre nœud. Donnez votre invitation à un voisin, collez la sienne, ou lancez le nœud avec l'adresse d'un relais (--bootstrap).",
    invite_qr: "Votre invitation en QR code, à scanner avec le téléphone d'un voisin",
    your_invite: "Votre invitation", their_invite: "L'invitation d'un voisin", meet: "Rejoindre ce voisin",
    invite_accepted: "Invitation enregistrée : votre nœud appelle ce voisin.",
    invite_unreachable: "Votre nœud n'écoute que sur cet ordinateur : lancez-le avec --listen /ip4/0.0.0.0/tcp/4001 pour inviter un voisin.",
    confirm: "Confirmer", remove: "Retirer", removed: "retiré", make_admin: "Nommer admin",
    admin: "admin", leave_admin: "Quitter l'administration", delete: "Supprimer",
    delete_question: "Supprimer cette fiche ? Elle disparaît de la carte de tous ; son historique est gardé.",
    delete_yes: "Oui, supprimer", deleted: "Supprimé.", withdraw_recommend: "Retirer ma recommandation",
    leave_member: "Quitter", cancel_request: "Annuler ma demande",
    leave_contributor: "Je ne contribue plus", leave_attendee: "Je n'y vais plus",
    agenda: "Agenda", no_events: "Aucun événement à venir.", ongoing: "En cours",
    all_day: "toute la journée", until: (date) => `jusqu'au ${date}`,
    my_contributions: "Mes contributions", rename: "Renommer", renamed: "Nom changé.",
    created_by_me: "Ajoutées par moi", admin_of: "J'administre", my_recommends: "Je recommande",
    my_member: "Membre de", my_contributor: "Je contribue à", my_attendee: "J'y vais",
    no_contributions: "Vous n'avez encore rien ajouté, rejoint ni recommandé.",
  },
  en: {
    skip: "Skip to the list", search: "Search", add: "Add", filters: "Filters",
    kind: "Kind", all: "All", organization: "Organization", project: "Project",
    event: "Event", place: "Place", person: "Person", category: "Category",
    tag: "Tag", map: "Map", list: "List", join_title: "Join my commune",
    join_intro: "Your name and commune are public; your e-mail stays on this computer.",
    display_name: "Display name", email: "E-mail (kept local)", postal_code: "Postal code",
    commune: "Commune", join: "Join", add_title: "Add", edit_title: "Edit",
    name: "Name", organization_type: "Form", unset: "—", local_business: "Business or service",
    ngo: "Association", group: "Group", government: "Public service", telephone: "Telephone",
    event_type: "Kind of event", place_type: "Kind of place", opening_hours: "Opening hours",
    start: "Start", end: "End", short_description: "In short", description: "Description",
    url: "Web site", street: "Address", tags: "Tags (separated by commas)",
    position: "Position on the map", lat: "Latitude", lon: "Longitude",
    place_on_map: "Place it by clicking on the map", click_map: "Click on the map to place it",
    save: "Save", cancel: "Cancel", edit: "Edit", recommend: "I recommend it",
    recommend_comment: "Your comment (optional)", ask_join: "Ask to join",
    contribute: "I contribute", attend: "I'm going", close: "Close", history: "History",
    members: "Members", pending: "pending", contributors: "Contributors",
    attendees: "Attendees", recommended_by: "Recommended by", address: "Address",
    nothing: "Nothing here yet.", count: (n) => `${n} result${n > 1 ? "s" : ""}`,
    saved: "Saved.", updated: "Updated by a neighbour.", joined_as: (name) => `Welcome, ${name}!`,
    read_only: "Read only: to write from this browser, run `communecter web` and open the link it gives.",
    pairing_expired: "This link was used already or has expired: run `communecter web` for another one.",
    change_by: "change by", unknown_commune: "Unknown postal code.",
    created: "created", links_changed: "links", admins_changed: "admins",
    deleted_changed: "deletion", open_edition_changed: "open edition",
    send: "Send", back: "Back to the list",
    lonely_title: "No neighbours yet",
    lonely_intro: "Your node knows no other node yet. Give your invite to a neighbour, paste theirs, or start the node with a relay's address (--bootstrap).",
    invite_qr: "Your invite as a QR code, for a neighbour's phone to scan",
    your_invite: "Your invite", their_invite: "A neighbour's invite", meet: "Meet this neighbour",
    invite_accepted: "Invite saved: your node is calling this neighbour.",
    invite_unreachable: "Your node listens on this computer only: start it with --listen /ip4/0.0.0.0/tcp/4001 to invite a neighbour.",
    confirm: "Confirm", remove: "Remove", removed: "removed", make_admin: "Make admin",
    admin: "admin", leave_admin: "Leave the admin role", delete: "Delete",
    delete_question: "Delete this entry? It leaves everyone's map; its history is kept.",
    delete_yes: "Yes, delete", deleted: "Deleted.", withdraw_recommend: "Withdraw my recommendation",
    leave_member: "Leave", cancel_request: "Cancel my request",
    leave_contributor: "I no longer contribute", leave_attendee: "I'm not going any more",
    agenda: "Agenda", no_events: "No upcoming events.", ongoing: "Happening now",
    all_day: "all day", until: (date) => `until ${date}`,
    my_contributions: "My contributions", rename: "Rename", renamed: "Name changed.",
    created_by_me: "Added by me", admin_of: "I administer", my_recommends: "I recommend",
    my_member: "Member of", my_contributor: "I contribute to", my_attendee: "I'm going to",
    no_contributions: "You have not added, joined or recommended anything yet.",
  },
};

for (const language of ["fr", "en"]) Object.assign(TEXT[language], DECIDE_TEXT[language], MODERATE_TEXT[language]);

/** The API's errors in French, by `reason` (a value refused, after the
 * field's name) and by `code`; in English the API's own message is shown. */
const FRENCH_ERRORS = {
  reasons: {
    empty: "ne doit pas être vide", too_long: "est trop long",
    control_characters: "contient des caractères de contrôle",
    bidi_control: "contient un caractère qui change le sens du texte",
    wrong_type: "n'a pas le bon type", not_allowed: "n'est pas une valeur permise",
    postal_code: "n'est pas un code postal valide", insee: "n'est pas un code INSEE valide",
    country: "n'est pas un code de pays (deux lettres, comme FR)", coordinate: "est hors limites",
    url: "doit être une adresse web commençant par http:// ou https://",
    date: "n'est pas une date", entity_ref: "n'est pas un identifiant de fiche",
    tag: "contient un mot-clé invalide (1 à 40 caractères, sans « / »)",
    unknown_field: "n'existe pas", field_not_for_kind: "ne s'applique pas à ce type de fiche",
    required: "est obligatoire",
  },
  whole: {
    end_before_start: "La fin est avant le début.", too_many_tags: "Une fiche a au plus 20 mots-clés.",
    position_outside_commune: "Cette position est loin de la commune de la fiche : vérifiez la latitude et la longitude, ou le code postal.",
  },
  codes: {
    not_allowed: "Vous n'avez pas le droit de faire cette modification.",
    unauthorized: "Ce navigateur n'est pas autorisé à écrire : lancez « communecter web » et ouvrez le lien qu'il donne.",
    forbidden: "Ce navigateur n'est pas autorisé à écrire : lancez « communecter web » et ouvrez le lien qu'il donne.",
    unknown_entity: "Cette fiche n'existe pas (ou plus) sur ce nœud.", unknown_postal_code: "Code postal inconnu.",
    choose_commune: "Choisissez votre commune.", busy: "Le nœud est occupé : réessayez dans un instant.",
    disk_full: "Le disque du nœud est plein : libérez de la place.",
    damaged: "Le stockage du nœud est endommagé : lancez « communecter check ».",
    internal: "Le nœud n'a pas pu le faire (son journal dit pourquoi).", too_large: "C'est trop volumineux.",
    not_joined: "Rejoignez d'abord votre commune.", already_joined: "Ce nœud a déjà rejoint une commune.",
    refused: "Modification refusée.", too_many: "C'est trop nombreux.", offline: "Le nœud est hors ligne.",
  },
};
// The room rules' refusals (decide.js), said like the other errors.
Object.assign(FRENCH_ERRORS.whole, DECIDE_ERRORS);
Object.assign(FRENCH_ERRORS.codes, MODERATE_CODES);

/** What the page says of an API error, in its language. */
function errorText(error) {
  if (lang !== "fr") return error.message;
  const whole = FRENCH_ERRORS.whole[error.reason];
  if (whole) return whole;
  const reason = FRENCH_ERRORS.reasons[error.reason];
  if (reason) {
    const field = error.field ? t(error.field) : "";
    const named = field && field !== error.field ? field : (error.field || "La valeur");
    return `${named} ${reason}.`;
  }
  return FRENCH_ERRORS.codes[error.code] || error.message;
}

const OVERSEAS = {
  "971": [16.25, -61.58, 10], "972": [14.64, -61.02, 10], "973": [4.0, -53.0, 7],
  "974": [-21.11, 55.53, 10], "975": [46.9, -56.3, 10], "976": [-12.83, 45.15, 11],
};

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? "";
/** Whether this browser is paired to write (its session cookie, which no script reads). */
let canWrite = false;
const $ = (id) => document.getElementById(id);

let lang = localStorage.getItem("communecter-lang")
  || ((navigator.language || "fr").startsWith("en") ? "en" : "fr");
const t = (key, ...args) => {
  const value = TEXT[lang][key] ?? TEXT.fr[key] ?? key;
  return typeof value === "function" ? value(...args) : value;
};

const state = {
  status: null, entities: [], shown: [], selected: null, placing: false,
  editing: null, people: new Map(), searchHits: null,
  /** The page of PAGES open in the side pane, if any. */
  page: null,
  /** The rooms of decision, by id; the proposals and rooms seen so far. */
  rooms: new Map(), seenProposals: new Set(), roomsSeen: new Set(),
  /** The entities their community hid (the list leaves them out). */
  hidden: new Set(),
};

/** Calls the local API; throws an Error with the API's message in the
 * page's language and its `code`. */
async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const failure = new Error(data?.error ? errorText(data.error) : `${response.status} ${response.statusText}`);
    failure.code = data?.error?.code;
    throw failure;
  }
  return data;
}

/** An element with text content only. */
function el(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function toast(message) {
  const box = $("toast");
  box.textContent = message;
  box.classList.add("shown");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("shown"), 4000);
}

function translatePage() {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  }
  for (const node of document.querySelectorAll("[data-i18n-alt]")) node.alt = t(node.dataset.i18nAlt);
  $("lang").textContent = lang === "fr" ? "EN" : "FR";
  // The name starts with the letters shown, as speech input users say
  // them (axe: label-content-name-mismatch), in the language it offers.
  $("lang").setAttribute("aria-label", lang === "fr" ? "EN, English" : "FR, Français");
  $("lang").setAttribute("lang", lang === "fr" ? "en" : "fr");
  // What the script wrote is written again in the new language: the
  // filters' "all", the open entity's page.
  fillFilters();
  render();
  if (state.selected && !$("detail").hidden) select(state.selected, false);
  if (state.page && !$("detail").hidden) openPage(state.page, false, false);
}

// ---- the map -------------------------------------------------------------

const map = L.map("map", { keyboard: true, maxZoom: 19, minZoom: 2 }).setView([46.6, 2.4], 5);
const tiles = meta("communecter-tiles");
if (tiles) {
  L.tileLayer(tiles, { maxZoom: 19, attribution: meta("communecter-tiles-attribution") }).addTo(map);
}
const cluster = L.markerClusterGroup();
map.addLayer(cluster);
let fitted = false;

/** A marker's pin: the kind's colour, the category's icon (icons.js). */
function icon(entity) {
  return L.divIcon({
    className: `pin pin-${entity.kind}`,
    html: `<div class="shape">${iconSvg(iconOf(entity))}</div>`,
    iconSize: [30, 30],
    iconAnchor: [15, 30],
  });
}

map.on("click", (event) => {
  if (!state.placing) return;
  $("entity-lat").value = event.latlng.lat.toFixed(6);
  $("entity-lon").value = event.latlng.lng.toFixed(6);
  stopPlacing();
  $("entity-dialog").showModal();
});

// ---- data ----------------------------------------------------------------

function matches(entity) {
  const kind = $("filter-kind").value;
  const category = $("filter-category").value;
  const tag = $("filter-tag").value;
  if (entity.deleted) return false;
  if (kind && entity.kind !== kind) return false;
  if (category && entity.fields.category !== category) return false;
  if (tag && !entity.tags.includes(tag)) return false;
  if (state.searchHits && !state.searchHits.has(entity.id)) return false;
  return true;
}

/** Whether the directory shows an entity of this kind. */
function listed(entity) {
  return entity.kind !== "relay" && entity.kind !== "room";
}

async function loadEntities() {
  // Relays' entries are the network's: their nodes are dialled, not shown;
  // rooms are where citizens decide, not entries of the directory.
  const [all, queue] = await Promise.all([api("GET", "/api/entities"),
    api("GET", "/api/moderation").catch(() => [])]);
  state.hidden = new Set(queue.filter((report) => report.state.hidden).map((report) => report.entity));
  state.entities = all.filter(listed);
  state.rooms = new Map(all.filter((e) => e.kind === "room" && !e.deleted).map((e) => [e.id, e]));
  await Promise.all([...state.rooms.values()].map(noticeProposals));
  for (const entity of state.entities) {
    if (entity.kind === "person") state.people.set(entity.id, entity.fields.name);
  }
  fillFilters();
  render();
}

/** The category and tag filters, from the entities shown. */
function fillFilters() {
  fillChoices("filter-category", state.entities.map((e) => e.fields.category).filter(Boolean));
  fillChoices("filter-tag", state.entities.flatMap((e) => e.tags));
}

function fillChoices(id, values) {
  const select = $(id);
  const current = select.value;
  const sorted = [...new Set(values)].sort((a, b) => a.localeCompare(b, lang));
  select.replaceChildren(el("option", t("all"), { value: "" }));
  for (const value of sorted) select.append(el("option", value, { value }));
  select.value = sorted.includes(current) ? current : "";
}

/** What the page shows of each entity, by id: its list entry and its
 * marker (if placed), so that a change redraws that entity only. */
const drawn = new Map();

/** An entity's list entry and marker, made anew. */
function draw(entity) {
  const item = el("li");
  item.append(entryButton(entity, [t(entity.kind), entity.fields.category].filter(Boolean).join(" · ")));
  let marker = null;
  if (entity.geo) {
    marker = L.marker([entity.geo.lat, entity.geo.lon], {
      icon: icon(entity), title: entity.fields.name, alt: entity.fields.name, keyboard: true,
    });
    marker.entityId = entity.id;
    marker.bindTooltip(el("span", entity.fields.name));
    marker.on("click", () => select(entity.id));
  }
  const drawing = { item, marker };
  drawn.set(entity.id, drawing);
  return drawing;
}

/** The entry with the keyboard focus in the list, if any. */
const focusedEntry = () => ($("list").contains(document.activeElement) ? document.activeElement.dataset.id : null);

function refocus(id) {
  const again = id && drawn.get(id)?.item.querySelector("button");
  if (again) again.focus({ preventScroll: true });
}

function render() {
  state.shown = state.entities.filter(matches);
  cluster.clearLayers();
  drawn.clear();
  const list = $("list");
  // The list is written again: the entry with the keyboard focus keeps it.
  const focused = focusedEntry();
  const items = [];
  const markers = [];
  for (const entity of state.shown) {
    const { item, marker } = draw(entity);
    items.push(item);
    if (marker) markers.push(marker);
  }
  list.replaceChildren(...items);
  cluster.addLayers(markers);
  if (!state.shown.length) list.append(el("li", t("nothing"), { class: "empty" }));
  refocus(focused);
  $("count").textContent = t("count", state.shown.length);
  if (!fitted && markers.length) {
    map.fitBounds(markers.map((marker) => marker.getLatLng()), { maxZoom: 15, padding: [30, 30] });
    fitted = true;
  }
}

/** How the list orders names, as the API does: accents and case ignored. */
const sortKey = (entity) => (entity.fields.name || "").normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();

/** Takes one entity as it is now (`null`: gone) into the page, redrawing
 * its entry and marker only: the rest of the list, the map and the
 * keyboard focus stay as they are. */
function applyEntity(id, entity) {
  if (entity?.kind === "room" && !entity.deleted) state.rooms.set(id, entity);
  else state.rooms.delete(id);
  const keep = entity && listed(entity) && !entity.deleted && !state.hidden.has(id) ? entity : null;
  const at = state.entities.findIndex((e) => e.id === id);
  if (at >= 0) state.entities.splice(at, 1);
  if (keep) {
    const key = sortKey(keep);
    let low = 0;
    let high = state.entities.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (sortKey(state.entities[middle]) <= key) low = middle + 1;
      else high = middle;
    }
    state.entities.splice(low, 0, keep);
    if (keep.kind === "person") state.people.set(keep.id, keep.fields.name);
  }
  const focused = focusedEntry();
  const old = drawn.get(id);
  if (old) {
    old.item.remove();
    if (old.marker) cluster.removeLayer(old.marker);
    drawn.delete(id);
  }
  state.shown = state.entities.filter(matches);
  if (!state.shown.length) return render();
  $("list").querySelector(".empty")?.remove();
  const position = keep ? state.shown.indexOf(keep) : -1;
  if (position >= 0) {
    const { item, marker } = draw(keep);
    const next = state.shown[position + 1];
    $("list").insertBefore(item, (next && drawn.get(next.id)?.item) || null);
    if (marker) cluster.addLayer(marker);
  }
  refocus(focused);
  $("count").textContent = t("count", state.shown.length);
  // A new category or tag joins the filters.
  const known = (id, value) => [...$(id).options].some((option) => option.value === value);
  if (keep && ((keep.fields.category && !known("filter-category", keep.fields.category))
    || keep.tags.some((tag) => !known("filter-tag", tag)))) fillFilters();
}

async function personName(id) {
  if (!id) return "?";
  if (!state.people.has(id)) {
    try {
      state.people.set(id, (await api("GET", `/api/entities/${id}`)).fields.name);
    } catch {
      state.people.set(id, id.slice(0, 8));
    }
  }
  return state.people.get(id);
}

/** Opens an entity's page; `focus`: move the keyboard focus to it (not
 * when it is only shown again, after a change or a language switch);
 * `push`: give it its own address in the history (`#/e/ID`), so that it
 * can be bookmarked and Back returns to the list. */
async function select(id, focus = true, push = focus) {
  state.selected = id;
  state.page = null;
  if (push && entityInHash() !== id) window.history.pushState(null, "", `#/e/${id}`);
  let entity;
  let changes;
  try {
    [entity, changes] = await Promise.all([
      api("GET", `/api/entities/${id}`),
      api("GET", `/api/entities/${id}/history`),
    ]);
  } catch (error) {
    toast(error.message);
    return;
  }
  await showDetail(entity, changes, focus);
}

/** The entity whose page the address names, if any. */
function entityInHash() {
  const match = location.hash.match(/^#\/e\/([a-z0-9]+)$/);
  return match ? match[1] : null;
}

/** Back to the list; `push`: as a new step of the history. */
function closeDetail(push = true) {
  $("detail").hidden = true;
  $("list").hidden = false;
  state.selected = null;
  state.page = null;
  if (push && location.hash) window.history.pushState(null, "", location.pathname + location.search);
  $("list").focus();
}

// Back and Forward move between the list and the pages opened.
window.addEventListener("popstate", () => {
  const id = entityInHash();
  if (id) select(id, true, false);
  else if (pageOf(location.hash)) openPage(location.hash, true, false);
  else if (state.selected || state.page) closeDetail(false);
});

// ---- pages of their own: the agenda, my contributions ----------------------

/** The pages of the side pane besides entities', by address. */
const PAGES = { "#/agenda": agendaPage, "#/me": contributionsPage, "#/rooms": roomsPage };

/** The page at `hash`: one of PAGES, a room's or a proposal's. */
const pageOf = (hash) => PAGES[hash] || decisionPage(hash);

/** Opens the page at `hash` (one of PAGES); `focus` and `push` as for
 * `select`. Shown again (`focus` false), it keeps the keyboard focus on
 * the same control. */
async function openPage(hash, focus = true, push = focus) {
  state.selected = null;
  state.page = hash;
  if (push && location.hash !== hash) window.history.pushState(null, "", hash);
  const detail = $("detail");
  const active = detail.contains(document.activeElement) ? document.activeElement : null;
  const close = el("button", t("back"), { type: "button", class: "back" });
  close.addEventListener("click", () => closeDetail());
  const content = await pageOf(hash)();
  if (state.page !== hash) return;
  detail.replaceChildren(close, ...content);
  $("list").hidden = true;
  detail.hidden = false;
  if (focus) {
    detail.focus({ preventScroll: true });
    detail.scrollIntoView({ block: "start" });
  } else if (active) {
    const again = (active.id && detail.querySelector(`#${active.id}`))
      || (active.dataset.id && detail.querySelector(`[data-id="${active.dataset.id}"]`));
    again?.focus({ preventScroll: true });
  }
}

/** A button that opens an entity's page, with its icon, name and `what`. */
function entryButton(entity, what) {
  const button = el("button", null, { type: "button", class: "entry", "data-id": entity.id });
  const glyph = el("span", null, { class: `glyph kind-${entity.kind}` });
  glyph.innerHTML = iconSvg(iconOf(entity));
  button.append(glyph, el("span", entity.fields.name, { class: "name" }));
  if (what) button.append(el("span", what, { class: "what" }));
  button.addEventListener("click", () => select(entity.id));
  return button;
}

/** The events not over yet, by day: those begun before today first. */
function agendaPage() {
  const now = new Date();
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const upcoming = state.entities
    .filter((entity) => entity.kind === "event")
    .map((entity) => ({ entity, start: storedDate(entity.fields.start), end: storedDate(entity.fields.end) }))
    .filter(({ start, end }) => start && (end || start).last >= now)
    .sort((a, b) => a.start.date - b.start.date || sortKey(a.entity).localeCompare(sortKey(b.entity)));
  const nodes = [el("h2", t("agenda"), { id: "page-title" })];
  if (!upcoming.length) nodes.push(el("p", t("no_events"), { class: "empty" }));
  let day = null;
  let list = null;
  for (const { entity, start, end } of upcoming) {
    const heading = start.date < today ? t("ongoing") : start.date.toLocaleDateString(lang, { dateStyle: "full" });
    if (heading !== day) {
      day = heading;
      list = el("ul", null, { class: "entries" });
      nodes.push(el("h3", heading), list);
    }
    const when = start.date < today && end
      ? t("until", end.date.toLocaleDateString(lang, { dateStyle: "long" }))
      : start.timed ? start.date.toLocaleTimeString(lang, { timeStyle: "short" }) : t("all_day");
    const what = [when, entity.fields.event_type, entity.address.locality].filter(Boolean).join(" · ");
    const item = el("li");
    item.append(entryButton(entity, what));
    list.append(item);
  }
  return nodes;
}

/** The citizen's own page: their name, which they change here, and the
 * entries they added, administer, joined or recommend. */
async function contributionsPage() {
  const me = state.status?.author;
  const person = state.status?.person;
  const nodes = [el("h2", t("my_contributions"), { id: "page-title" })];
  if (!me) return nodes;
  const name = await personName(person);
  if (canWrite) {
    const form = el("form", null, { class: "rename" });
    const input = el("input", null, { id: "my-name", name: "name", required: "", maxlength: "120", autocomplete: "name" });
    input.value = name;
    form.append(el("label", t("display_name"), { for: "my-name" }), input,
      el("button", t("rename"), { type: "submit", id: "rename-button" }));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const wanted = input.value.trim();
      if (!wanted || wanted === state.people.get(person)) return;
      try {
        const renamed = await api("PATCH", `/api/entities/${person}`, { edits: [{ set: ["name", wanted] }] });
        state.people.set(person, renamed.fields.name);
        toast(t("renamed"));
        await openPage("#/me", false, false);
      } catch (error) {
        toast(error.message);
      }
    });
    nodes.push(form);
  } else {
    nodes.push(el("p", name, { class: "who" }));
  }
  const mine = (relation) => (entity) => entity.links.some((l) => l.relation === relation && l.author === me && !l.removed);
  const groups = [
    ["created_by_me", (entity) => entity.creator === me],
    ["admin_of", (entity) => entity.creator !== me && entity.admins.includes(me)],
    ["my_member", mine("member")], ["my_contributor", mine("contributor")],
    ["my_attendee", mine("attendee")], ["my_recommends", mine("recommends")],
  ];
  let any = false;
  for (const [title, belongs] of groups) {
    const entries = state.entities.filter((entity) => entity.kind !== "person" && belongs(entity));
    if (!entries.length) continue;
    any = true;
    const list = el("ul", null, { class: "entries" });
    for (const entity of entries) {
      const item = el("li");
      item.append(entryButton(entity, [t(entity.kind), entity.fields.category].filter(Boolean).join(" · ")));
      list.append(item);
    }
    nodes.push(el("section", null, { class: `mine mine-${title}` }));
    nodes.at(-1).append(el("h3", `${t(title)} (${entries.length})`), list);
  }
  if (!any) nodes.push(el("p", t("no_contributions"), { class: "empty" }));
  return nodes;
}

/** A stored date (`YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]`, optionally with
 * `Z` or an offset) in the page's language; as stored if it is none. */
function shownDate(text) {
  const stored = storedDate(text);
  if (!stored) return text;
  return stored.timed
    ? stored.date.toLocaleString(lang, { dateStyle: "full", timeStyle: "short" })
    : stored.date.toLocaleDateString(lang, { dateStyle: "full" });
}

/** A stored date as a `Date` (local time when it names no zone), whether
 * it has a time, and its last moment (a day without a time lasts the
 * day); `null` for none or a text that is no date. */
function storedDate(text) {
  const parts = (text || "").match(/^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?)?(Z|[+-]\d{2}:\d{2})?$/);
  if (!parts) return null;
  const [, year, month, day, hour, minute, second = "0", zone] = parts;
  const date = zone ? new Date(text)
    : new Date(Number(year), Number(month) - 1, Number(day), Number(hour ?? 0), Number(minute ?? 0), Number(second));
  if (Number.isNaN(date.getTime())) return null;
  const timed = hour !== undefined;
  const last = timed ? date : new Date(date.getFullYear(), date.getMonth(), date.getDate() + 1, 0, 0, 0, -1);
  return { date, timed, last };
}

/** What a date picker can show of a stored date, local time to the
 * minute; `""` when it cannot (the field is then left as it was unless
 * the citizen picks a date). */
function pickerDate(text) {
  const parts = (text || "").match(/^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}))?/);
  if (!parts) return "";
  return `${parts[1]}T${parts[2] ?? "00:00"}`;
}

function row(list, label, value) {
  if (value === undefined || value === null || value === "") return;
  list.append(el("dt", label), el("dd", value));
}

async function showDetail(entity, history, focus = true) {
  const detail = $("detail");
  detail.replaceChildren();
  const close = el("button", t("back"), { type: "button", class: "back" });
  close.addEventListener("click", () => closeDetail());
  detail.append(close, el("h2", entity.fields.name, { id: "detail-name" }));
  const f = entity.fields;
  detail.append(el("p", [t(entity.kind), f.category, f.organization_type && t(f.organization_type),
    f.event_type, f.place_type].filter(Boolean).join(" · "), { class: "what" }));
  if (f.short_description) detail.append(el("p", f.short_description, { class: "short" }));
  if (f.description) detail.append(el("p", f.description, { class: "description" }));
  const facts = el("dl");
  const address = [entity.address.street, entity.address.postal_code, entity.address.locality]
    .filter(Boolean).join(", ");
  row(facts, t("address"), address);
  row(facts, t("telephone"), f.telephone);
  row(facts, t("opening_hours"), f.opening_hours);
  row(facts, t("start"), f.start && shownDate(f.start));
  row(facts, t("end"), f.end && shownDate(f.end));
  if (f.url && /^https?:\/\//i.test(f.url)) {
    const link = el("a", f.url, { href: f.url, rel: "noopener noreferrer nofollow", target: "_blank" });
    facts.append(el("dt", t("url")), Object.assign(el("dd"), {}));
    facts.lastChild.append(link);
  }
  detail.append(facts);
  if (entity.tags.length) {
    const tags = el("ul", null, { class: "tags" });
    for (const tag of entity.tags) tags.append(el("li", tag));
    detail.append(tags);
  }
  const groups = [
    ["member", t("members")], ["contributor", t("contributors")],
    ["attendee", t("attendees")], ["recommends", t("recommended_by")],
  ];
  const me = state.status?.author;
  const admin = canWrite && entity.kind !== "person" && entity.admins.includes(me);
  for (const [relation, title] of groups) {
    const links = entity.links.filter((link) => link.relation === relation);
    if (!links.length) continue;
    const section = el("section", null, { class: `links links-${relation}` });
    section.append(el("h3", title));
    const list = el("ul");
    for (const link of links) {
      const item = el("li");
      const name = await personName(link.person);
      item.append(el("span", name, { class: "who" }));
      if (relation === "member") {
        const mark = entity.admins.includes(link.author) ? "admin"
          : link.confirmed ? null : link.removed ? "removed" : "pending";
        if (mark) item.append(el("span", ` (${t(mark)})`));
        if (admin && link.author !== me) item.append(memberActions(entity, link, name));
      }
      if (link.comment) item.append(el("q", link.comment));
      list.append(item);
    }
    section.append(list);
    detail.append(section);
  }
  const actions = el("div", null, { class: "actions" });
  if (canWrite && entity.kind !== "person") {
    const editButton = el("button", t("edit"), { type: "button" });
    editButton.addEventListener("click", () => openEntityForm(entity));
    actions.append(editButton);
    const mine = (relation) => entity.links.find((l) => l.relation === relation && l.author === me);
    // Actions that fit the kind: one joins an association or a group, not
    // a business or a public service; one recommends a business, a
    // service or a place, not an association. An organization of no
    // stated form gets both.
    const orgForm = entity.kind === "organization" ? entity.fields?.organization_type : null;
    const joinable = entity.kind !== "organization" || !["local_business", "government"].includes(orgForm);
    const recommendable = entity.kind === "place"
      || (entity.kind === "organization" && !["ngo", "group"].includes(orgForm));
    const relation = joinable
      ? { organization: "member", project: "contributor", event: "attendee" }[entity.kind]
      : undefined;
    const own = relation && mine(relation);
    if (own) {
      // Already in: the same place offers to leave.
      const label = relation !== "member" ? t(`leave_${relation}`)
        : own.confirmed ? t("leave_member") : t("cancel_request");
      // The last admin stays a member: the entity keeps someone to answer.
      if (!(relation === "member" && admin && entity.admins.length === 1)) {
        const leave = el("button", label, { type: "button" });
        leave.addEventListener("click", () => unlink(entity.id, relation));
        actions.append(leave);
      }
    } else if (relation) {
      const label = { member: t("ask_join"), contributor: t("contribute"), attendee: t("attend") }[relation];
      const join = el("button", label, { type: "button" });
      join.addEventListener("click", () => link(entity.id, relation, null));
      actions.append(join);
    }
    if (recommendable && mine("recommends")) {
      const withdraw = el("button", t("withdraw_recommend"), { type: "button" });
      withdraw.addEventListener("click", () => unlink(entity.id, "recommends"));
      actions.append(withdraw);
    } else if (recommendable) {
      const form = el("form", null, { class: "recommend" });
      const input = el("input", null, { id: "recommend-comment", maxlength: "280" });
      form.append(el("label", t("recommend_comment"), { for: "recommend-comment" }), input,
        el("button", t("recommend"), { type: "submit" }));
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        link(entity.id, "recommends", input.value.trim() || null);
      });
      actions.append(form);
    }
    if (admin) actions.append(...adminActions(entity, me));
  }
  detail.append(actions, ...await moderationPart(entity));
  const past = el("section", null, { class: "history" });
  past.append(el("h3", t("history")));
  const changes = el("ol");
  for (const [n, change] of history.entries()) {
    const when = new Date(change.time * 1000).toLocaleString(lang);
    const who = change.person ? await personName(change.person) : change.author.slice(0, 8);
    const what = n === 0 ? t("created") : (change.changed || []).map(changedLabel).join(", ");
    changes.append(el("li", `${when} — ${who}${what ? ` : ${what}` : ""}`));
  }
  past.append(changes);
  detail.append(past);
  $("list").hidden = true;
  detail.hidden = false;
  if (focus) {
    // Its title at the top, whatever was scrolled before: the list's
    // pane on a wide screen, the page on a phone.
    detail.focus({ preventScroll: true });
    detail.scrollIntoView({ block: "start" });
  }
  if (entity.geo) map.setView([entity.geo.lat, entity.geo.lon], Math.max(map.getZoom(), 15));
}

/** What a history line says a change wrote: a field's name, or what a
 * structural key holds. */
function changedLabel(key) {
  const structural = {
    tags: "tag", geo: "position", address: "address", links: "links_changed",
    recommends: "recommended_by", admins: "admins_changed", confirmed: "members",
    deleted: "deleted_changed", open_edition: "open_edition_changed",
  };
  const label = t(structural[key] || key);
  return label === key ? key : label.toLowerCase();
}

/** An admin's buttons beside a member: confirm, remove, make admin. */
function memberActions(entity, link, name) {
  const box = el("span", null, { class: "member-actions" });
  const button = (label, edits) => {
    const node = el("button", t(label), { type: "button", "aria-label": `${t(label)} : ${name}` });
    node.addEventListener("click", () => edit(entity.id, edits));
    box.append(node);
  };
  const isAdmin = entity.admins.includes(link.author);
  if (!link.confirmed) button("confirm", [{ confirm_member: link.author }]);
  if (!isAdmin && !link.removed) button("remove", [{ remove_member: link.author }]);
  if (link.confirmed && !isAdmin) button("make_admin", [{ add_admin: link.author }]);
  return box;
}

/** An admin's own actions: leave the role (when another admin stays),
 * delete the entry (asked twice). */
function adminActions(entity, me) {
  const nodes = [];
  if (entity.admins.length > 1) {
    const leave = el("button", t("leave_admin"), { type: "button" });
    // Stepping down, one stays a confirmed member.
    leave.addEventListener("click", () => edit(entity.id, [{ confirm_member: me }, { remove_admin: me }]));
    nodes.push(leave);
  }
  const remove = el("button", t("delete"), { type: "button", class: "danger" });
  const ask = el("div", null, { class: "confirm-delete", role: "group", hidden: "" });
  const question = el("p", t("delete_question"), { id: "delete-question" });
  const yes = el("button", t("delete_yes"), { type: "button", class: "danger", "aria-describedby": "delete-question" });
  const no = el("button", t("cancel"), { type: "button" });
  ask.append(question, yes, no);
  remove.addEventListener("click", () => {
    ask.hidden = false;
    remove.hidden = true;
    no.focus();
  });
  no.addEventListener("click", () => {
    ask.hidden = true;
    remove.hidden = false;
    remove.focus();
  });
  yes.addEventListener("click", async () => {
    try {
      await api("DELETE", `/api/entities/${entity.id}`);
      toast(t("deleted"));
      closeDetail();
      await loadEntities();
    } catch (error) {
      toast(error.message);
    }
  });
  nodes.push(remove, ask);
  return nodes;
}

/** Writes into an entity through the API, then shows it again. */
async function write(id, method, path, body) {
  try {
    await api(method, path, body);
    toast(t("saved"));
    await select(id);
  } catch (error) {
    toast(error.message);
  }
}

const edit = (id, edits) => write(id, "PATCH", `/api/entities/${id}`, { edits });
const link = (id, relation, comment) => write(id, "POST", `/api/entities/${id}/links`, { relation, comment });
const unlink = (id, relation) => write(id, "DELETE", `/api/entities/${id}/links/${relation}`);

// ---- forms ---------------------------------------------------------------

const FIELDS = {
  name: "name", organization_type: "organization_type", category: "category",
  telephone: "telephone", event_type: "event_type", place_type: "place_type",
  opening_hours: "opening_hours", start: "start", end: "end",
  short_description: "short_description", description: "description", url: "url",
  street: "address.street",
};

function showKindFields() {
  const kind = $("entity-kind").value;
  for (const block of document.querySelectorAll("#entity-form .only")) {
    const shown = block.classList.contains(kind);
    block.hidden = !shown;
    for (const input of block.querySelectorAll("input, select")) input.disabled = !shown;
  }
}

function openEntityForm(entity) {
  // A new form ends a placing left half-way.
  stopPlacing();
  const form = $("entity-form");
  form.reset();
  for (const picker of form.querySelectorAll("input[type=datetime-local]")) delete picker.dataset.shown;
  state.editing = entity || null;
  $("entity-title").textContent = entity ? t("edit_title") : t("add_title");
  $("entity-kind").disabled = Boolean(entity);
  form.querySelector(".error").textContent = "";
  if (entity) {
    $("entity-kind").value = entity.kind;
    for (const [input, field] of Object.entries(FIELDS)) {
      const value = field === "address.street" ? entity.address.street : entity.fields[field];
      const element = form.elements[input];
      if (!element) continue;
      if (element.type === "datetime-local") {
        // What the picker shows stands for the stored date (a day alone, an
        // offset) until the citizen changes it.
        element.value = pickerDate(value);
        element.dataset.shown = element.value;
      } else {
        element.value = value ?? "";
      }
    }
    form.elements.tags.value = entity.tags.join(", ");
    if (entity.geo) {
      form.elements.lat.value = entity.geo.lat;
      form.elements.lon.value = entity.geo.lon;
    }
  }
  showKindFields();
  $("entity-dialog").showModal();
  $("entity-name").focus();
}

function formEdits(form, before) {
  const edits = [];
  for (const [input, field] of Object.entries(FIELDS)) {
    const element = form.elements[input];
    if (!element || element.disabled || input === "name") continue;
    const value = element.value.trim();
    const old = before ? (field === "address.street" ? before.address.street : before.fields[field]) ?? "" : "";
    if (value === old || (before && value === element.dataset.shown)) continue;
    edits.push(value ? { set: [field, value] } : { clear: field });
  }
  if (before && form.elements.name.value.trim() !== before.fields.name) {
    edits.push({ set: ["name", form.elements.name.value.trim()] });
  }
  const tags = form.elements.tags.value.split(",").map((tag) => tag.trim()).filter(Boolean);
  const oldTags = before ? before.tags : [];
  for (const tag of tags) if (!oldTags.includes(tag)) edits.push({ add_tag: tag });
  for (const tag of oldTags) if (!tags.includes(tag)) edits.push({ remove_tag: tag });
  const lat = form.elements.lat.value.trim();
  const lon = form.elements.lon.value.trim();
  const oldGeo = before?.geo;
  if (lat && lon) {
    const geo = { lat: Number(lat), lon: Number(lon) };
    if (!oldGeo || oldGeo.lat !== geo.lat || oldGeo.lon !== geo.lon) edits.push({ set_geo: geo });
  } else if (oldGeo) {
    edits.push("clear_geo");
  }
  return edits;
}

/** Leaves the "place by clicking on the map" mode. */
function stopPlacing() {
  state.placing = false;
  $("map").classList.remove("placing");
}

// Escape while placing goes back to the form, as it was.
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.placing) {
    event.preventDefault();
    stopPlacing();
    // After this key is done with: the browser closes the top dialog on
    // Escape, which would be the form just opened again.
    setTimeout(() => $("entity-dialog").showModal(), 0);
  }
});

// Joining is the way in: Escape does not close the join dialog for good
// (browsers may close it whatever the page says; it opens again).
let joinedHere = false;
$("join-dialog").addEventListener("cancel", (event) => event.preventDefault());
$("join-dialog").addEventListener("close", () => {
  if (!joinedHere) $("join-dialog").showModal();
});

$("entity-kind").addEventListener("change", showKindFields);
$("entity-cancel").addEventListener("click", () => $("entity-dialog").close());
$("place-button").addEventListener("click", () => {
  state.placing = true;
  $("entity-dialog").close();
  $("map").classList.add("placing");
  toast(t("click_map"));
  $("map").focus();
});
$("entity-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const error = form.querySelector(".error");
  try {
    let saved;
    if (state.editing) {
      const edits = formEdits(form, state.editing);
      saved = edits.length
        ? await api("PATCH", `/api/entities/${state.editing.id}`, { edits })
        : state.editing;
    } else {
      saved = await api("POST", "/api/entities", {
        kind: form.elements.kind.value,
        name: form.elements.name.value.trim(),
        edits: formEdits(form, null),
      });
    }
    $("entity-dialog").close();
    toast(t("saved"));
    await loadEntities();
    await select(saved.id);
  } catch (failure) {
    error.textContent = failure.message;
  }
});
$("add-button").addEventListener("click", () => openEntityForm(null));

async function lookUpCommunes() {
  const code = $("join-postal").value.trim();
  const select = $("join-commune");
  select.replaceChildren();
  if (!/^[0-9]{5}$/.test(code)) return;
  try {
    const communes = await api("GET", `/api/communes/${code}`);
    for (const commune of communes) select.append(el("option", commune.name, { value: commune.insee }));
    // A code its city shares with one arrondissement means the arrondissement
    // (75011 is Paris 11e); the city stays in the list.
    const part = communes.length === 2
      && communes.find((c) => c.parent && communes.some((city) => city.insee === c.parent));
    if (part) select.value = part.insee;
    $("join-form").querySelector(".error").textContent = "";
  } catch {
    $("join-form").querySelector(".error").textContent = t("unknown_commune");
  }
}
$("join-postal").addEventListener("input", lookUpCommunes);
$("join-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  try {
    const person = await api("POST", "/api/init", {
      name: form.elements.name.value.trim(),
      email: form.elements.email.value.trim() || null,
      postal_code: form.elements.postal_code.value.trim(),
      insee: form.elements.insee.value || null,
    });
    joinedHere = true;
    $("join-dialog").close();
    toast(t("joined_as", person.fields.name));
    await start();
  } catch (failure) {
    form.querySelector(".error").textContent = failure.message;
  }
});

/** The ids of every entity a search finds, not a first page. */
const searchIds = async (q) => new Set(await api("GET", `/api/search/ids?q=${encodeURIComponent(q)}`));

$("search-form").addEventListener("submit", (event) => event.preventDefault());
$("search").addEventListener("input", () => {
  clearTimeout(state.searchTimer);
  state.searchTimer = setTimeout(async () => {
    const q = $("search").value.trim();
    if (!q) {
      state.searchHits = null;
    } else {
      try {
        // Every match, not a first page: the filters apply to them all.
        state.searchHits = await searchIds(q);
      } catch (error) {
        toast(error.message);
      }
    }
    render();
  }, 250);
});
for (const id of ["filter-kind", "filter-category", "filter-tag"]) $(id).addEventListener("change", render);
$("lang").addEventListener("click", () => {
  lang = lang === "fr" ? "en" : "fr";
  localStorage.setItem("communecter-lang", lang);
  translatePage();
});

// ---- live updates ----------------------------------------------------------

function listen() {
  const events = new EventSource("/api/events");
  let timer = null;
  let detailChanged = false;
  let fromNeighbour = false;
  // The entities changed since the last refresh; `null`: all of them.
  let changed = new Set();
  const refresh = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const ids = changed;
      changed = new Set();
      // A few changes are fetched and drawn one by one; a flood (an
      // import, a first sync) is one reload.
      const fetched = ids && ids.size <= 50 ? await Promise.all([...ids].map((id) => api("GET", `/api/entities/${id}`)
        .then((entity) => [id, entity], () => [id, null]))) : null;
      // A moderation room's decision may hide or show any entity: the
      // list is read again.
      if (!fetched || fetched.some(([, entity]) => entity?.kind === "room" && entity.fields.moderation)) {
        await loadEntities();
      } else {
        const search = $("search").value.trim();
        if (state.searchHits && search) {
          try {
            state.searchHits = await searchIds(search);
          } catch {
            // The last hits stay until the next change or search.
          }
        }
        const begun = performance.now();
        for (const [id, entity] of fetched) applyEntity(id, entity);
        // A new proposal in one of my rooms is said instead of "updated".
        const noticed = await Promise.all(fetched.filter(([, entity]) => entity?.kind === "room")
          .map(([, room]) => noticeProposals(room)));
        if (noticed.some(Boolean)) fromNeighbour = false;
        performance.measure("communecter-live-change", { start: begun });
      }
      if (fromNeighbour) toast(t("updated"));
      // The open page is shown again only if someone else changed it, and
      // not while the citizen is typing in it.
      const typing = $("detail").contains(document.activeElement)
        && document.activeElement.tagName === "INPUT";
      if (detailChanged && state.selected && !$("detail").hidden && !typing) {
        await select(state.selected, false);
      }
      // The agenda and the citizen's page follow every change.
      if (state.page && !$("detail").hidden && !typing) await openPage(state.page, false, false);
      detailChanged = false;
      fromNeighbour = false;
    }, 300);
  };
  events.addEventListener("change", (event) => {
    const change = JSON.parse(event.data);
    changed?.add(change.id);
    if (change.origin !== "local") {
      fromNeighbour = true;
      if (change.id === state.selected) detailChanged = true;
    }
    refresh();
  });
  events.addEventListener("reload", () => {
    changed = null;
    refresh();
  });
  events.addEventListener("joined", () => start());
}

/** An overseas commune without bounds: its territory's usual view. */
function openOverseas() {
  const overseas = OVERSEAS[String(state.status.postal_code).slice(0, 3)];
  if (overseas) map.setView([overseas[0], overseas[1]], overseas[2]);
}

async function start() {
  state.status = await api("GET", "/api/status");
  if (!state.status.joined) {
    if (canWrite) $("join-dialog").showModal();
    return;
  }
  try {
    const communes = await api("GET", `/api/communes/${encodeURIComponent(state.status.postal_code)}`);
    const commune = communes.find((c) => c.insee === state.status.insee_code) || communes[0];
    $("commune").textContent = commune ? `${commune.name} (${state.status.postal_code})` : state.status.postal_code;
    // The map opens on the citizen's commune (its bounding box).
    const box = commune?.bounds;
    if (box && !fitted) map.fitBounds([[box.south, box.west], [box.north, box.east]]);
    else if (!fitted) openOverseas();
  } catch {
    $("commune").textContent = state.status.postal_code;
    if (!fitted) openOverseas();
  }
  await loadEntities();
}

/** Shows what a node without peers can do: give its invite, take one. */
async function checkNeighbours() {
  let status;
  try {
    status = await api("GET", "/api/status");
  } catch {
    return;
  }
  const running = status.joined && typeof status.network === "object";
  const lonely = running && status.network.peers === 0;
  const panel = $("lonely");
  if (lonely && panel.hidden) {
    try {
      const invite = await api("GET", "/api/invite");
      $("invite-code").value = invite.code;
      // The same code, drawn by the node; a new one each time the panel
      // opens (the addresses may have changed).
      $("invite-qr").src = `/api/invite/qr?at=${Date.now()}`;
      $("invite-box").hidden = false;
      $("invite-error").textContent = "";
    } catch (error) {
      $("invite-code").value = "";
      $("invite-box").hidden = true;
      $("invite-error").textContent = error.code === "unreachable" ? t("invite_unreachable") : error.message;
    }
  }
  panel.hidden = !lonely;
  $("join-invite-form").hidden = !canWrite;
}

$("join-invite-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("POST", "/api/join", { code: $("join-invite").value });
    $("join-invite").value = "";
    toast(t("invite_accepted"));
  } catch (error) {
    toast(error.message);
  }
});

async function boot() {
  translatePage();
  if (new URLSearchParams(location.search).get("pairing") === "expired") {
    toast(t("pairing_expired"));
    history.replaceState(null, "", "/");
  }
  canWrite = (await api("GET", "/api/session")).paired;
  if (!canWrite) {
    $("add-button").hidden = true;
    toast(t("read_only"));
  }
  $("agenda-button").addEventListener("click", () => openPage("#/agenda"));
  $("me-button").addEventListener("click", () => openPage("#/me"));
  $("rooms-button").addEventListener("click", () => openPage("#/rooms"));
  listen();
  await start();
  // An address naming an entity opens its page.
  const linked = entityInHash();
  if (linked) await select(linked, true, false);
  else if (pageOf(location.hash)) await openPage(location.hash, true, false);
  await checkNeighbours();
  setInterval(checkNeighbours, 10_000);
}

boot().catch((error) => toast(error.message));
