// The icons of the web map: one for each kind of entry, and one for the
// common categories of businesses, associations, places and events. Each is
// drawn here on a 24 × 24 grid with strokes only, in the colour of the text
// around it (currentColor). They are fixed strings, never user content.
"use strict";

const ICON_SHAPES = {
  organization: '<path d="M4 21V9l8-5 8 5v12"/><path d="M9.5 21v-6h5v6"/><path d="M2.5 21h19"/>',
  project: '<path d="M6 21V3.5"/><path d="M6 4h12l-2.5 4L18 12H6"/>',
  event: '<rect x="3.5" y="5" width="17" height="15.5" rx="2"/><path d="M3.5 10h17M8 3v4M16 3v4"/>',
  place: '<path d="M12 21s-6.5-6.2-6.5-11.5a6.5 6.5 0 0 1 13 0C18.5 14.8 12 21 12 21z"/><circle cx="12" cy="9.5" r="2.3"/>',
  person: '<circle cx="12" cy="7.5" r="3.8"/><path d="M4.5 21a7.5 7.5 0 0 1 15 0"/>',
  bread: '<path d="M4 19v-7.5a8 5.5 0 0 1 16 0V19z"/><path d="M9 9.5 8 13M12.5 9l-1 4M16 9.8 15 13"/>',
  tool: '<circle cx="15.5" cy="8.5" r="4"/><path d="m12.6 11.4-8.1 8.1"/><path d="m17 7-1.5 1.5"/>',
  child: '<circle cx="12" cy="5.5" r="2.6"/><path d="M12 8.5v6.5M7.5 11h9M12 15l-3.2 5.5M12 15l3.2 5.5"/>',
  health: '<path d="M9.5 3.5h5v6h6v5h-6v6h-5v-6h-6v-5h6z"/>',
  food: '<path d="M4 9h12.5v4.5a5 5 0 0 1-5 5H9a5 5 0 0 1-5-5z"/><path d="M16.5 10.5h1.5a2 2 0 0 1 0 4h-1.8M7.5 3.5v3M11 3.5v3M4 21h12.5"/>',
  music: '<circle cx="7" cy="18" r="2.7"/><circle cx="17" cy="16" r="2.7"/><path d="M9.7 18V5.5l10-2V16"/>',
  stage: '<path d="M12 3.5l2.6 5.3 5.9.9-4.3 4.1 1 5.8-5.2-2.7-5.2 2.7 1-5.8-4.3-4.1 5.9-.9z"/>',
  garden: '<path d="M5.5 19.5C5 10.5 10.5 5 20 4.5c-.5 9.5-6 15-14.5 15z"/><path d="m5.5 19.5 8.5-8.5"/>',
  sport: '<circle cx="12" cy="12" r="8.5"/><path d="M3.5 12h17M12 3.5c3.2 3 3.2 14 0 17M12 3.5c-3.2 3-3.2 14 0 17"/>',
  shop: '<path d="M5 8.5h14l-1.2 12H6.2z"/><path d="M9 8.5V7a3 3 0 0 1 6 0v1.5"/>',
  book: '<path d="M3.5 5.5H9a3 3 0 0 1 3 3v12a2.5 2.5 0 0 0-2.5-2.5h-6zM20.5 5.5H15a3 3 0 0 0-3 3v12a2.5 2.5 0 0 1 2.5-2.5h6z"/>',
  town_hall: '<path d="M3 9.5 12 4l9 5.5M5.5 10v8M10 10v8M14 10v8M18.5 10v8M3 20.5h18"/>',
};

/** Which icon a category, a kind of place or event takes: the first whose
 * word starts one of the text's words (accents and case ignored); a word
 * ending in `=` must be the whole word. */
const CATEGORY_ICONS = [
  ["health", ["sante", "medec", "pharma", "infirm", "dentist", "kine", "clinique", "hopital", "health", "doctor", "soin", "osteo", "sage-femme"]],
  ["child", ["creche", "enfan", "garderie", "jeunesse", "nursery", "child", "matern", "periscol", "ludoth"]],
  ["bread", ["boulang", "patiss", "bakery", "pain=", "viennois"]],
  ["food", ["restau", "cafe", "bar=", "brasser", "cuisine", "traiteur", "food", "pizz", "cantine", "snack", "buvette", "repas"]],
  ["tool", ["garage", "mecani", "repar", "bricol", "plomb", "electric", "menuis", "atelier", "repair", "serrur", "artisan"]],
  ["garden", ["jardin", "potager", "garden", "nature", "environ", "compost", "ferme", "agricul", "maraich", "bio=", "ecolog", "amap"]],
  ["music", ["musiq", "music", "chorale", "concert", "orchest", "fanfare", "chant", "harmonie"]],
  ["stage", ["theat", "cinema", "danse", "dance", "cultur", "art=", "arts=", "spectacle", "festival", "expo", "musee", "museum", "cirque"]],
  ["sport", ["sport", "foot", "rugby", "tennis", "judo", "gym", "piscine", "velo", "randon", "yoga", "basket", "athlet", "natation", "escalade"]],
  ["book", ["biblio", "livre", "librair", "ecole", "formation", "educ", "cours", "mediath", "school", "library", "universit", "college", "lycee", "incubat"]],
  ["shop", ["commerce", "magasin", "boutique", "epicer", "marche", "shop", "superette", "vente", "troc", "ressourcer", "brocant"]],
  ["town_hall", ["mairie", "public", "administr", "prefect", "poste", "gouv", "town", "collectivit"]],
];

/** A text without accents, in lower case, cut into words. */
const iconWords = (text) => text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase().split(/[^a-z0-9-]+/).filter(Boolean);

/** The icon of an entity: its category's (or kind of place or event's),
 * a public service's, else its kind's. */
function iconOf(entity) {
  const f = entity.fields || {};
  const words = iconWords([f.category, f.place_type, f.event_type].filter(Boolean).join(" "));
  for (const [name, stems] of CATEGORY_ICONS) {
    const hit = stems.some((stem) => (stem.endsWith("=")
      ? words.includes(stem.slice(0, -1))
      : words.some((word) => word.startsWith(stem))));
    if (hit) return name;
  }
  if (f.organization_type === "government") return "town_hall";
  return ICON_SHAPES[entity.kind] ? entity.kind : "place";
}

/** The markup of an icon, hidden from assistive technologies (the entry's
 * name and kind say what it is). */
const iconSvg = (name) => `<svg class="icon" data-icon="${name}" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">${ICON_SHAPES[name]}</svg>`;
